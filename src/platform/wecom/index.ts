/** WeCom (企业微信): the client, customer-contact APIs, callback crypto and events. */
export {
  createWecomClient,
  wecomTokenKey,
  type WecomClient,
  type WecomClientOptions,
  type WecomCall,
} from './client.js';
export {
  getExternalContact,
  listExternalContacts,
  addContactWay,
  sendWelcomeMsg,
  getCorpTagList,
  addCorpTag,
  editCorpTag,
  delCorpTag,
  markTag,
  addMsgTemplate,
  getFollowUserList,
  batchGetByUser,
  transferCustomer,
  getGroupMsgSendResult,
  getGroupMsgListV2,
  getUserInfoByCode,
  listGroupChats,
  getGroupChat,
  type GroupChatDetail,
  ContactWayInput,
  type ExternalContactPage,
  type ExternalContactDetail,
  type CorpTagGroup,
  type WecomAttachment,
} from './externalcontact.js';
export {
  createWecomCallbackCrypto,
  encryptedPartOf,
  WecomCallbackError,
  type WecomCallbackCrypto,
  type WecomCallbackQuery,
} from './crypto.js';
export { parseWecomEvent, wecomEventOf, type WecomEvent } from './events.js';
