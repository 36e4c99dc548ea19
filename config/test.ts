/**
 * Settings for the test suite. Tests start their own sandbox on a free port and point the API bases at it;
 * each test file gets its own database and Redis prefix (test/support).
 */
const testing: Record<string, string> = {
  HOST: '127.0.0.1',
  PORT: '0',
  LOG_LEVEL: 'silent',
  SHUTDOWN_TIMEOUT_MS: '5000',
  AGENDA_PROCESS_EVERY_MS: '200',
  WECHAT_APPID: 'wxb11529c136998cb6',
  WECHAT_APPSECRET: 'test-app-secret-000001',
  WECHAT_TOKEN: 'pamtest',
  WECHAT_AES_KEY: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG',
  WECHAT_ORIGINAL_ID: 'gh_test00000001',
  WECHAT_API_BASE: 'http://127.0.0.1:9/wechat',
  WECHAT_API_TIMEOUT_MS: '1000',
  WECHAT_API_RETRY_BASE_MS: '20',
  WECHAT_API_RETRY_CAP_MS: '200',
  JWT_SECRET: 'test-insecure-jwt-secret-0123456789abcdef',
  RESERVATION_CODE_SECRET: 'test-insecure-reservation-secret-0123456789abc',
  PUSH_LINK_SECRET: 'test-insecure-push-link-secret-0123456789abcdef',
  ADMIN_USERNAME: 'admin',
  ADMIN_PASSWORD: 'admin-password-test',
  CRM_PHONE_KEY: 'dGVzdC1pbnNlY3VyZS1jcm0tcGhvbmUta2V5LTAwMDA=', // test-insecure-crm-phone-key-0000
};
export default testing;
