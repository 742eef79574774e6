# One image for every FlowForge process; the command picks the process:
#   gateway:  node --import tsx gateway/main.ts   (the default)
#   a capability: node --import tsx services/main.ts <name>   (e.g. crypto, jobs)
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
# Vulkan builds, some 600 MB that npm installs as optional dependencies, are left out.
RUN npm install --omit=dev --no-fund --no-audit && npm cache clean --force \
  && rm -rf node_modules/@node-llama-cpp/*-cuda* node_modules/@node-llama-cpp/*-vulkan*
COPY gen ./gen
COPY lib ./lib
COPY services ./services
COPY gateway ./gateway
COPY tsconfig.json ./
USER node
EXPOSE 8080 50051
CMD ["node", "--import", "tsx", "gateway/main.ts"]
