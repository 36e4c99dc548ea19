/**
 * Agenda 6 on the same MongoDB (its own collection). On FerretDB its lock is not exclusive across
 * processes, so every job handler must be idempotent (unique records decide, never the lock).
 */
import { Agenda } from 'agenda';
import { MongoBackend } from '@agendajs/mongo-backend';
import mongoose from 'mongoose';
import type { Logger } from './logger.js';

export type { Agenda, Job } from 'agenda';

export interface AgendaOptions {
  processEveryMs: number;
  collection: string;
  lockLifetimeMs: number;
  maxConcurrency: number;
  name: string;
}

export function createAgenda(options: AgendaOptions, logger: Logger): Agenda {
  const db = mongoose.connection.db;
  if (!db) throw new Error('createAgenda needs a connected mongo');
  const agenda = new Agenda({
    backend: new MongoBackend({ mongo: db, collection: options.collection }),
    name: options.name,
    // A number of milliseconds: the string form '200 milliseconds' was read as seconds (docs: ferretdb).
    processEvery: options.processEveryMs,
    defaultLockLifetime: options.lockLifetimeMs,
    maxConcurrency: options.maxConcurrency,
    // A finished one-off job (a payout, a push run) is deleted: kept, every poll would scan it again (FerretDB
    // filters job documents in its own process) and the collection would grow with every envelope ever paid.
    // Failed ones stay for inspection; recurring ones are never removed.
    removeOnComplete: true,
  });
  agenda.on('error', (err: Error) => logger.error({ err }, 'agenda error'));
  agenda.on('fail', (err: Error | string, job: { attrs: { name: string } }) => {
    logger.warn({ err, job: job.attrs.name }, 'job failed');
  });
  return agenda;
}
