# One image for every FlowForge process; the command picks the process:
#   gateway:  node --import tsx gateway/main.ts   (the default)
#   a capability: node --import tsx services/main.ts <name>   (e.g. crypto, jobs)
FROM node:20-bookworm-slim
WORKDIR /app
# A thread pool with room for the crypto service's bounded argon2 and key generation work
# beside DNS lookups and file reads (services/crypto/limits.ts).
ENV NODE_ENV=production HOST=0.0.0.0 UV_THREADPOOL_SIZE=16
COPY package.json package-lock.json ./
RUN npm install --omit=dev --no-fund --no-audit && npm cache clean --force
COPY gen ./gen
COPY lib ./lib
COPY services ./services
COPY gateway ./gateway
COPY tsconfig.json ./
USER node
EXPOSE 8080 50051
CMD ["node", "--import", "tsx", "gateway/main.ts"]
