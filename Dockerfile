# One image for every FlowForge process, running the compiled JavaScript (no tsx, no dev
# dependencies at run time); the command picks the process:
#   gateway:      node dist/gateway/main.js   (the default)
#   a capability: node dist/services/main.js <name>   (e.g. crypto, jobs)

# Build: every dependency, then `npm run build` (run by npm install's prepare) into dist/.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY gen ./gen
COPY lib ./lib
COPY services ./services
COPY gateway ./gateway
COPY web ./web
# The TypeScript SDK: a dev dependency (file:) that the build compiles beside the rest.
COPY sdk/typescript ./sdk/typescript
RUN npm install --no-fund --no-audit

# Run: the production dependencies alone, the compiled code, the Debian programs the capabilities call.
FROM node:20-bookworm-slim
WORKDIR /app
# A thread pool with room for the crypto service's bounded argon2 and key generation work
# beside DNS lookups and file reads (services/crypto/limits.ts).
ENV NODE_ENV=production HOST=0.0.0.0 UV_THREADPOOL_SIZE=16
# The programs the document services call: native OCR with its languages (tesseract.js brings
# its own data from npm), qpdf for PDF encryption, Chromium for HTML to PDF, and fonts.
RUN apt-get update \
  && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
     tesseract-ocr tesseract-ocr-eng tesseract-ocr-deu tesseract-ocr-fra tesseract-ocr-spa \
     qpdf chromium fonts-dejavu-core \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# node-llama-cpp runs GGUF models on the CPU here (services/llm/providers/local.ts): its CUDA and
# Vulkan builds, some 600 MB that npm installs as optional dependencies, are left out. No
# scripts: `prepare` would build, and the code comes built from the first stage.
RUN npm install --omit=dev --ignore-scripts --no-fund --no-audit && npm cache clean --force \
  && rm -rf node_modules/@node-llama-cpp/*-cuda* node_modules/@node-llama-cpp/*-vulkan*
# The compiled code, without the embedded database's template (production runs PostgreSQL).
COPY --from=build /app/dist/package.json ./dist/package.json
COPY --from=build /app/dist/gen ./dist/gen
COPY --from=build /app/dist/lib ./dist/lib
COPY --from=build /app/dist/services ./dist/services
COPY --from=build /app/dist/gateway ./dist/gateway
COPY --from=build /app/dist/scripts ./dist/scripts
# What the gateway shares with the TypeScript SDK (the #sdk/* alias: enum spellings, file fields).
COPY --from=build /app/dist/sdk ./dist/sdk
# The chunks the entry points' bundles share (scripts/bundle.ts).
COPY --from=build /app/dist/chunks ./dist/chunks
# The web console, served by the gateway at /.
COPY --from=build /app/dist/web ./dist/web
USER node
EXPOSE 8080 50051 9464
CMD ["node", "dist/gateway/main.js"]
