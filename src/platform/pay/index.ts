/** WeChat Pay v3: the client, transfers, callbacks and the crypto they rest on. */
export { createPayClient, type PayClient, type PayClientOptions, type PayRequest } from './client.js';
export {
  createTransferBill,
  getTransferBill,
  cancelTransferBill,
  createTransferBatch,
  getTransferBatch,
  CreateTransferBillInput,
  CreateTransferBatchInput,
  TRANSFER_BILL_STATES,
  FINAL_TRANSFER_BILL_STATES,
  type TransferBillState,
  type CreatedTransferBill,
  type TransferBill,
  type TransferBatch,
} from './transfers.js';
export {
  openPayNotification,
  verifyPayNotification,
  answerPayNotification,
  type PayNotificationAnswer,
  type PayEvent,
  type TransferBillFinishedEvent,
  type UnknownPayEvent,
  type PayNotificationInput,
} from './notify.js';
export {
  PayVerificationError,
  createKeyring,
  createMerchantSigner,
  decryptResource,
  encryptResource,
  parseAuthorization,
  verifyPaySignature,
  type PayKeyring,
  type PayVerificationCode,
} from './signing.js';
