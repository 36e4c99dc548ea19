/**
 * Custom menus and conditional (personalised) menus.
 * https://developers.weixin.qq.com/doc/service/api/custommenu/api_createcustommenu
 * https://developers.weixin.qq.com/doc/service/api/custommenu/api_addconditionalmenu
 */
import { z } from 'zod';
import { isPlatformError } from '../../kernel/index.js';
import type { WechatCaller } from '../client.js';

export const MENU_BUTTON_TYPES = [
  'click',
  'view',
  'scancode_push',
  'scancode_waitmsg',
  'pic_sysphoto',
  'pic_photo_or_album',
  'pic_weixin',
  'location_select',
  'media_id',
  'view_limited',
  'article_id',
  'article_view_limited',
  'miniprogram',
] as const;
export type MenuButtonType = (typeof MENU_BUTTON_TYPES)[number];

export interface MenuButton {
  name: string;
  type?: MenuButtonType;
  key?: string;
  url?: string;
  media_id?: string;
  article_id?: string;
  appid?: string;
  pagepath?: string;
  sub_button?: MenuButton[];
}

/** Only tag and client platform still match since WeChat dropped sex/country/province/city/language. */
export interface MenuMatchRule {
  tag_id?: string;
  client_platform_type?: '1' | '2' | '3';
}

const Button: z.ZodType<MenuButton> = z.lazy(() =>
  z.object({
    name: z.string(),
    type: z.enum(MENU_BUTTON_TYPES).optional(),
    key: z.string().optional(),
    url: z.string().optional(),
    media_id: z.string().optional(),
    article_id: z.string().optional(),
    appid: z.string().optional(),
    pagepath: z.string().optional(),
    sub_button: z.array(Button).optional(),
  }),
);

const MenuGet = z.object({
  menu: z.object({ button: z.array(Button), menuid: z.union([z.string(), z.number()]).optional() }),
  conditionalmenu: z
    .array(
      z.object({
        button: z.array(Button),
        matchrule: z.object({ tag_id: z.string().optional(), client_platform_type: z.string().optional() }).loose(),
        menuid: z.union([z.string(), z.number()]),
      }),
    )
    .optional(),
});
export interface Menus {
  menu: MenuButton[];
  conditional: Array<{ menuId: string; button: MenuButton[]; matchRule: MenuMatchRule }>;
}

const Ok = z.object({ errcode: z.number().optional() }).loose();

export interface MenuApi {
  /** Publishes the default menu (replacing the current one). */
  createMenu(buttons: MenuButton[]): Promise<void>;
  /** The default menu and the conditional menus; `undefined` when no menu exists (46003). */
  getMenu(): Promise<Menus | undefined>;
  /** Deletes the default menu and every conditional menu. */
  deleteMenu(): Promise<void>;
  /** Adds a conditional menu; a default menu must exist. Returns its menuid. */
  addConditionalMenu(buttons: MenuButton[], matchRule: MenuMatchRule): Promise<string>;
  deleteConditionalMenu(menuId: string): Promise<void>;
  /** The menu a user (openid or WeChat id) would see. */
  tryMatchMenu(userId: string): Promise<MenuButton[]>;
}

export function menuApi(caller: WechatCaller): MenuApi {
  return {
    async createMenu(buttons) {
      await caller.call({ method: 'POST', path: '/cgi-bin/menu/create', body: { button: buttons }, schema: Ok });
    },
    async getMenu() {
      try {
        const got = await caller.call({ method: 'GET', path: '/cgi-bin/menu/get', schema: MenuGet });
        return {
          menu: got.menu.button,
          conditional: (got.conditionalmenu ?? []).map((m) => ({
            menuId: String(m.menuid),
            button: m.button,
            matchRule: m.matchrule as MenuMatchRule,
          })),
        };
      } catch (err) {
        if (isPlatformError(err, 46003)) return undefined;
        throw err;
      }
    },
    async deleteMenu() {
      await caller.call({ method: 'GET', path: '/cgi-bin/menu/delete', schema: Ok });
    },
    async addConditionalMenu(buttons, matchRule) {
      const got = await caller.call({
        method: 'POST',
        path: '/cgi-bin/menu/addconditional',
        body: { button: buttons, matchrule: matchRule },
        schema: z.object({ menuid: z.union([z.string(), z.number()]) }),
      });
      return String(got.menuid);
    },
    async deleteConditionalMenu(menuId) {
      await caller.call({ method: 'POST', path: '/cgi-bin/menu/delconditional', body: { menuid: menuId }, schema: Ok });
    },
    async tryMatchMenu(userId) {
      const got = await caller.call({
        method: 'POST',
        path: '/cgi-bin/menu/trymatch',
        body: { user_id: userId },
        schema: z.object({ button: z.array(Button) }).or(z.object({ menu: z.object({ button: z.array(Button) }) })),
      });
      return 'button' in got ? got.button : got.menu.button;
    },
  };
}
