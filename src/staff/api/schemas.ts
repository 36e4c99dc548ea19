/** Building blocks shared by every admin route's schemas (and so by the OpenAPI document). */
import { Readable } from 'node:stream';
import { z } from 'zod';

/** A MongoDB ObjectId as 24 hex characters (path params and references). */
export const ObjectIdString = z.string().regex(/^[0-9a-f]{24}$/, 'a 24-character hex id');

/** Timestamps leave the API as ISO-8601 UTC strings. */
export const IsoDateTime = z.iso.datetime();

export const IdParams = z.object({ id: ObjectIdString }).strict();

/** The one error shape of the API (infra/http/error-handler.ts). */
export const ErrorBody = z.object({
  error: z.object({
    code: z.string().meta({ description: 'stable snake_case code, e.g. permission_denied, invalid_input' }),
    message: z.string(),
    requestId: z.string(),
    details: z
      .record(z.string(), z.unknown())
      .optional()
      .meta({ description: 'invalid_input carries fields: [{ path, message }]' }),
  }),
});

/** A streamed CSV answer (exports): UTF-8 with a header row. */
export const CsvStream = z
  .custom<Readable>((v) => v instanceof Readable)
  .meta({ description: 'CSV (UTF-8, header row), streamed', type: 'string' });
