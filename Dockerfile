# Flows CLI image (migrate, worker): multi-stage, runs as a non-root user.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --omit=optional

FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client-15 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production FLOWS_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY migrations ./migrations
COPY sql ./sql
COPY jobs ./jobs
RUN ln -s /app/bin/flows.js /usr/local/bin/flows
USER node
ENTRYPOINT []
CMD ["flows", "--help"]
