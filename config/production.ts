/**
 * Production: nothing secret is embedded. Every credential comes from the environment
 * (docker/.env.example lists them); start-up fails with one line per missing setting.
 */
const production: Record<string, string> = {
  LOG_LEVEL: 'info',
  TRUST_PROXY: 'true',
  WECHAT_CALLBACK_MAX_SKEW_SECONDS: '300',
};
export default production;
