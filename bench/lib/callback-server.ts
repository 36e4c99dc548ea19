/**
 * The service as the callback benchmark runs it: the real start-up, plus one text handler that
 * answers every text message (so each request pays for decrypt, parse, dedup, dispatch, render and
 * encrypt of the reply).
 */
import { exitOnSignals, loadConfigOrExit, startService } from '../../src/main.js';
import { replies } from '../../src/platform/wechat/replies.js';

const service = await startService(loadConfigOrExit(), {
  extendApp: (_app, deps) => {
    deps.wechatHandlers.onText((message) => replies.text(`echo: ${message.content}`));
  },
});
exitOnSignals(service);
