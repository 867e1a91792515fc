/** Public API for producers and embedders: `import { createProducer } from 'target-ingest'`. */
export { createProducer, type Producer, type ProducerOptions } from './intake/producer.js';
export type { AcceptSummary, EventResult } from './intake/accept.js';
export { DEFAULT_MAPPING, loadMappingFile, validateEvent, type MappingSpec, type ValidEvent } from './events/index.js';
export { loadConfig, type Config } from './config.js';
export { connectRedis, type RedisClient, type RedisTarget } from './redis/connection.js';
