export {
  type AddressParse,
  BINDING_FIELDS,
  type BindingComponent,
  type BindingField,
  type BindingOptions,
  bindingMetadataSchema,
  DEFAULT_REDIS_PORT,
  type MetadataEntry,
  type ParsedBinding,
  parseAddresses,
  parseBindingSettings,
} from "./binding-schema.js";
export {
  BINDING_TYPE,
  type IgnoredComponent,
  type LoadedComponents,
  loadComponents,
} from "./components.js";
export { describeBinding } from "./describe.js";
export {
  type DurationSetting,
  formatDuration,
  parseBool,
  parseDurationOrMs,
  parseDurationSetting,
  parseGoDuration,
  parseInteger,
  ValueFormatError,
} from "./duration.js";
export { LOG_LEVELS, loadRuntimeSettings, RUNTIME_DEFAULTS } from "./runtime.js";
export {
  createSecretStore,
  ENV_SECRET_STORE,
  FILE_SECRET_STORE,
  resolveSecretKeyRef,
  SECRET_STORE_TYPES,
  SecretAccessError,
  type SecretKeyRef,
  type SecretRefLocation,
  type SecretStore,
  type SecretStoreDefinition,
  type SecretStoreOptions,
} from "./secrets.js";
export {
  type HostPort,
  type RedisBindingSettings,
  type RedisType,
  type RuntimeSettings,
  SECRET_FIELDS,
} from "./settings.js";
