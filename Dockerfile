# One image for the worker and the API (compose picks the command).
FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
ENV LEDGER_PATH=/data/ledger.db
VOLUME ["/data"]
CMD ["npm", "run", "worker"]
