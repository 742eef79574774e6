/**
 * The console's build (`npm run build` runs it): static files into dist/web/, which the gateway
 * serves at `/` (gateway/transports/console.ts). Hashed file names under assets/, nothing from a
 * CDN, no inline script (the gateway's Content-Security-Policy allows none).
 */
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/",
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL("../dist/web", import.meta.url)),
    emptyOutDir: true,
    assetsInlineLimit: 0, // no data: URLs: every asset a file the CSP allows
    modulePreload: { polyfill: false }, // the polyfill is an inline script
    reportCompressedSize: false,
  },
  logLevel: "warn",
});
