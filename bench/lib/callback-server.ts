/**
 * The service as the callback benchmark runs it: the real start-up, plus one text handler that
 * answers every text message (so each request pays for decrypt, parse, dedup, dispatch, render and
 * encrypt of the reply), and one keyword rule (`基金净值`, exact) so a run can measure a keyword reply
 * through the conversation engine instead.
 */
import { exitOnSignals, loadConfigOrExit, startService } from '../../src/main.js';
import { replies } from '../../src/platform/wechat/replies.js';
import { BENCH_KEYWORD } from './pushes.js';

let ready: Promise<unknown> = Promise.resolve();
const service = await startService(loadConfigOrExit(), {
  extendApp: (_app, deps) => {
    deps.wechatHandlers.onText((message) => replies.text(`echo: ${message.content}`));
    ready = deps.conversation.admin.createRule(
      {
        account: '*',
        name: 'bench keyword',
        match: 'exact',
        pattern: BENCH_KEYWORD,
        priority: 0,
        answer: { action: 'reply', params: { text: '今日净值 1.2345（基金A），点击菜单查看更多。' } },
        enabled: true,
      },
      'bench',
    );
  },
});
await ready;
exitOnSignals(service);
