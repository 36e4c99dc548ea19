/** Small building blocks every screen shares: loading, errors in words, labelled fields, tables, paging. */
import type { ComponentChildren, JSX } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, type FieldProblem, type Page, type Query, api } from './api';
import { errorText, t } from './i18n';

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Loads when `key` changes; `reload()` loads again (after a write). */
export function useLoad<T>(load: () => Promise<T>, key: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, loading: false }),
      (error: unknown) => live && setState({ error, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [...key, tick]);
  return { data: state.data, error: state.error, loading: state.loading, reload: () => setTick((n) => n + 1) };
}

/** A list read page by page from the server: the cursors already seen make "previous" possible. */
export function usePaged<T>(path: string, filters: Query, limit = 20) {
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const filterKey = JSON.stringify(filters);
  useEffect(() => setCursors([null]), [filterKey, path]);
  const cursor = cursors[cursors.length - 1] ?? null;
  const page = useLoad(
    () => api<Page<T>>('GET', path, { query: { ...filters, limit, cursor } }),
    [path, filterKey, cursor],
  );
  return {
    ...page,
    pageNo: cursors.length,
    next: () => page.data?.nextCursor && setCursors([...cursors, page.data.nextCursor]),
    prev: () => cursors.length > 1 && setCursors(cursors.slice(0, -1)),
    first: () => setCursors([null]),
  };
}

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <div class="error" role="alert">
      {errorText(error)}
    </div>
  );
}

/** The API's field problems (`details.fields`) as a list, for forms whose fields are not one-to-one with paths. */
export function ProblemList({ error }: { error: unknown }) {
  if (!(error instanceof ApiError) || error.fields.length === 0) return null;
  return (
    <ul class="field-error" role="alert">
      {error.fields.map((f) => (
        <li>
          {f.path}: {f.message}
        </li>
      ))}
    </ul>
  );
}

export function Notice({ children }: { children: ComponentChildren }) {
  return (
    <div class="notice" role="status">
      {children}
    </div>
  );
}

export function Loading({ on }: { on: boolean }) {
  return on ? (
    <p class="muted" aria-live="polite">
      {t('加载中…', 'Loading…')}
    </p>
  ) : null;
}

let fieldSeq = 0;

/** A labelled field with its own error line; the input is the child (kept as typed when a save fails). */
export function Field(props: {
  label: string;
  error?: string | undefined;
  hint?: string;
  children: (id: string) => JSX.Element;
}) {
  const id = useRef(`f${++fieldSeq}`).current;
  return (
    <div class={`field${props.error ? ' invalid' : ''}`}>
      <label for={id}>{props.label}</label>
      {props.children(id)}
      {props.hint && <small class="muted">{props.hint}</small>}
      {props.error && (
        <small class="field-error" id={`${id}-err`}>
          {props.error}
        </small>
      )}
    </div>
  );
}

/** Form state: values stay as typed; the API's field errors (`details.fields`) land next to each field. */
export function useForm<T extends Record<string, string>>(initial: T) {
  const [values, setValues] = useState<T>(initial);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [failure, setFailure] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const set = (name: keyof T) => (e: Event) =>
    setValues((v) => ({ ...v, [name]: (e.currentTarget as HTMLInputElement).value }));
  const submit = useCallback(
    async (action: (v: T) => Promise<void>, check?: (v: T) => Record<string, string | undefined>) => {
      setFailure(null);
      const local: Record<string, string> = {};
      for (const [k, m] of Object.entries(check?.(values) ?? {})) if (m) local[k] = m;
      setErrors(local);
      if (Object.keys(local).length) {
        setFailure(new ApiError(400, 'invalid_input', 'invalid'));
        return;
      }
      setBusy(true);
      try {
        await action(values);
      } catch (err) {
        setFailure(err);
        if (err instanceof ApiError) setErrors(fieldErrors(err.fields));
      } finally {
        setBusy(false);
      }
    },
    [values],
  );
  return { values, setValues, set, errors, failure, busy, submit, reset: () => setValues(initial) };
}

function fieldErrors(fields: FieldProblem[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fields) out[f.path.split('.')[0] ?? f.path] = f.message;
  return out;
}

export interface Column<T> {
  label: string;
  cell: (row: T) => ComponentChildren;
}

export function Table<T>(props: { columns: Column<T>[]; rows: T[] | undefined; empty?: string; caption?: string }) {
  return (
    <div class="table-wrap">
      <table>
        {props.caption && <caption>{props.caption}</caption>}
        <thead>
          <tr>
            {props.columns.map((c) => (
              <th scope="col">{c.label}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {(props.rows ?? []).map((row) => (
            <tr>
              {props.columns.map((c) => (
                <td>{c.cell(row)}</td>
              ))}
            </tr>
          ))}
          {props.rows && props.rows.length === 0 && (
            <tr>
              <td colSpan={props.columns.length} class="muted">
                {props.empty ?? t('暂无数据', 'Nothing here')}
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}

export function Pager(props: { pageNo: number; hasNext: boolean; prev: () => void; next: () => void }) {
  return (
    <nav class="pager" aria-label={t('分页', 'Pages')}>
      <button type="button" onClick={props.prev} disabled={props.pageNo <= 1}>
        {t('上一页', 'Previous')}
      </button>
      <span>{t(`第 ${props.pageNo} 页`, `Page ${props.pageNo}`)}</span>
      <button type="button" onClick={props.next} disabled={!props.hasNext}>
        {t('下一页', 'Next')}
      </button>
    </nav>
  );
}

/** A button that runs an API write, shows progress while it runs, and reports a failure in words. */
export function Action(props: {
  label: string;
  run: () => Promise<unknown>;
  done?: () => void;
  confirm?: string;
  kind?: 'primary' | 'danger';
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  return (
    <span class="action">
      <button
        type="button"
        class={props.kind ?? ''}
        disabled={busy}
        aria-busy={busy}
        onClick={() => {
          if (props.confirm && !window.confirm(props.confirm)) return;
          setBusy(true);
          setError(null);
          props.run().then(
            () => {
              setBusy(false);
              props.done?.();
            },
            (err: unknown) => {
              setBusy(false);
              setError(err);
            },
          );
        }}
      >
        {busy ? t('处理中…', 'Working…') : props.label}
      </button>
      {error ? (
        <span class="error inline" role="alert">
          {errorText(error)}
        </span>
      ) : null}
    </span>
  );
}

const shanghai = new Intl.DateTimeFormat('zh-CN', {
  timeZone: 'Asia/Shanghai',
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  hour12: false,
});

/** UTC from the API, shown in Beijing time. */
export function time(iso: string | null | undefined): string {
  return iso ? shanghai.format(new Date(iso)) : '—';
}

export function yuan(fen: number | undefined): string {
  if (fen === undefined) return '—';
  return `¥${(fen / 100).toFixed(2)}`;
}

/** A datetime-local value (Beijing time as typed) → ISO UTC. */
export function fromLocal(value: string): string {
  return new Date(`${value}:00+08:00`).toISOString();
}

export function toLocal(date: Date): string {
  const bj = new Date(date.getTime() + 8 * 3600_000);
  return bj.toISOString().slice(0, 16);
}
