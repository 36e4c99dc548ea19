/**
 * The composition root for domain services: platform clients and domains are built here from the
 * infrastructure, once per process, and handed to routes, gateway handlers and jobs.
 */
import type { Infra } from './infra/runtime.js';

export type AppDeps = Infra;

export async function createServices(infra: Infra): Promise<AppDeps> {
  return infra;
}
