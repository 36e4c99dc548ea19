/**
 * Settings shared by every environment. Keys are the environment variable names (one vocabulary,
 * overridden by the environment); src/infra/config.ts validates and types them.
 */
const defaults: Record<string, string> = {
  PROCESS_ROLE: 'all',
  HOST: '0.0.0.0',
  PORT: '3000',
  PUBLIC_BASE_URL: 'http://127.0.0.1:3000',
  LOG_LEVEL: 'info',
  SHUTDOWN_TIMEOUT_MS: '10000',
  MONGO_DATABASE: 'scrm',
  MONGO_POOL_SIZE: '10', // FerretDB hangs past ~10 connections holding updates (docs: ferretdb)
  REDIS_PREFIX: 'scrm:',
  AGENDA_PROCESS_EVERY_MS: '1000',
  AGENDA_LOCK_LIFETIME_MS: '600000',
  AGENDA_MAX_CONCURRENCY: '20',
  JSON_BODY_LIMIT_BYTES: '1048576',
  TRUST_PROXY: 'false',
  WECHAT_CALLBACK_DEADLINE_MS: '4000',
  WECHAT_CALLBACK_MAX_SKEW_SECONDS: '0',
  WECHAT_CALLBACK_BODY_LIMIT_BYTES: '65536',
  WECHAT_CALLBACK_DEDUP_TTL_SECONDS: '300',
  WECHAT_ACCOUNT_KEY: 'default',
  WECOM_KEY: 'default',
  JWT_ISSUER: 'wechat-scrm',
  JWT_AUDIENCE: 'wechat-scrm-admin',
  JWT_ACCESS_TTL_SECONDS: '900',
  JWT_REFRESH_TTL_SECONDS: '1209600',
  SANDBOX: 'false',
  SANDBOX_PORT: '3900',
  CRM_TIERS: 'standard,silver,gold,vip',
  CRM_OPT_OUT_KEYWORDS: 'TD,退订',
  CRM_IMPORT_CHECKPOINT_ROWS: '1000',
  CRM_ENRICH_BATCH_SIZE: '100',
  CRM_ENRICH_BATCHES_PER_RUN: '10',
};
export default defaults;
