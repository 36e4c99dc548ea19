/** The signed-in staff member (GET /me) and the permission check every menu and button uses. */
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';

export interface Me {
  staff: { id: string; username: string; displayName: string; roles: string[] };
  permissions: string[];
}

export const MeContext = createContext<Me | null>(null);

export function useMe(): Me {
  const me = useContext(MeContext);
  if (!me) throw new Error('not signed in');
  return me;
}

export function useCan(): (permission: string) => boolean {
  const me = useMe();
  return (permission) => me.permissions.includes(permission);
}
