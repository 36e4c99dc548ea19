/**
 * Embedded defaults for a local run (`npm start`): a demo official account and WeCom corp that talk to
 * the bundled sandbox instead of WeChat. MONGO_URL and REDIS_URL are filled in by the launcher, which
 * finds or starts the services. These secrets are for local use only; production refuses them.
 */
const development: Record<string, string> = {
  HOST: '127.0.0.1',
  LOG_LEVEL: 'info',
  SANDBOX: 'true',
  WECHAT_APPID: 'wxb11529c136998cb6',
  WECHAT_APPSECRET: 'development-app-secret-0001',
  WECHAT_TOKEN: 'benchtoken2024',
  WECHAT_AES_KEY: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
  WECHAT_ORIGINAL_ID: 'gh_3a9f2b7c1d4e',
  WECHAT_API_BASE: 'http://127.0.0.1:3900/wechat',
  WECOM_CORPID: 'wwdevelopmentcorp01',
  WECOM_SECRET: 'development-wecom-secret',
  WECOM_TOKEN: 'wecomdevtoken',
  WECOM_AES_KEY: 'ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj',
  WECOM_API_BASE: 'http://127.0.0.1:3900/wecom',
  JWT_SECRET: 'development-insecure-jwt-secret-change-me-0123456789',
  RESERVATION_CODE_SECRET: 'development-insecure-reservation-secret-0123456789',
  PUSH_LINK_SECRET: 'development-insecure-push-link-secret-0123456789',
  ADMIN_USERNAME: 'admin',
  ADMIN_PASSWORD: 'admin-password-dev',
  CRM_PHONE_KEY: 'ZGV2ZWxvcG1lbnQtY3JtLXBob25lLWtleS0wMDAwMDA=', // development-crm-phone-key-000000
};
export default development;
