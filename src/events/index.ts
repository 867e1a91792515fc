/**
 * The event contract: the envelope producers send, the identity rules Target imposes, and
 * the mapping from event types to Target profile attributes. Pure code; the only IO is
 * reading a mapping file at start.
 */
export {
  EVENT_ID_MAX,
  EVENT_TYPE_MAX,
  PC_ID_MAX,
  THIRD_PARTY_ID_MAX,
  EventSchema,
  EventTypeSchema,
  TimestampSchema,
  VisitorSchema,
  parseVisitorArgument,
  parseVisitorKey,
  visitorKey,
  visitorRefOf,
  type Event,
  type EventInput,
  type Visitor,
  type VisitorRef,
} from './envelope.js';
export {
  ATTRIBUTE_NAME_MAX,
  ATTRIBUTE_VALUE_MAX,
  DEFAULT_MAPPING,
  FIELD_TYPES,
  MappingFileError,
  MappingSpecSchema,
  SHA256_HEX_LENGTH,
  hashAttributeValue,
  loadMappingFile,
  privateDataFields,
  resolveMapping,
  unsaltedHashes,
  type AttributeSource,
  type AttributeSpec,
  type CompiledAttribute,
  type CompiledEventType,
  type CompiledField,
  type CompiledMapping,
  type DataFieldSpec,
  type EventMapping,
  type FieldType,
  type MappingSpec,
  type ResolveOptions,
  type SaltSpec,
} from './mapping.js';
export { ENVELOPE_RULES, envelopeTime } from './envelope-check.js';
export {
  MAX_FUTURE_SKEW_MS,
  checkEvent,
  explainEvent,
  mapCheckedEvent,
  validateEvent,
  type ValidEvent,
  type ValidateOptions,
  type ValidationResult,
} from './validate.js';
export { formatNumber, formatTimestamp, parseTimestamp } from './values.js';
