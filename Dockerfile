# One image for every role; docker-compose picks the role by command.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY workers ./workers
COPY scripts/copy-assets.ts ./scripts/
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
USER node
# Intake, /healthz, /readyz, /metrics and the dashboard (PORT); healthchecks live in docker-compose.yml.
EXPOSE 8080
CMD ["node", "dist/workers/all-in-one.js"]
