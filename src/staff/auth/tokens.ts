/**
 * Access tokens: JWT signed with HS256 only.
 *
 * Why HS256: this service both issues and verifies its tokens, no third party verifies them, and the
 * existing settings hold shared secrets (JWT_SECRET, JWT_SECRET_PREVIOUS). With a one-element algorithm
 * allow-list, `alg: none`, RS/HS confusion (an RS256 token, or an HS256 token "signed" with a public
 * key) and weaker/other HMACs are all refused before any key is used. Keys are picked by `kid` from a
 * ring of two (current signs, previous only verifies) so secrets rotate without logging everyone out.
 */
import jwt from 'jsonwebtoken';
import { z } from 'zod';
import { DomainError } from '../../infra/errors.js';
import { RoleSchema } from '../permissions.js';
import { DataScopeSchema } from '../scope.js';

export const ACCESS_ALGORITHM = 'HS256' as const;

export const AccessClaims = z.object({
  sub: z.string().regex(/^[0-9a-f]{24}$/),
  /** Session (refresh-token family) id. */
  sid: z.string().min(16).max(64),
  /** The staff member's session version when the token was issued. */
  sv: z.string().min(1).max(64),
  usr: z.string(),
  roles: z.array(RoleSchema),
  scope: DataScopeSchema,
});
export type AccessClaims = z.infer<typeof AccessClaims>;

export interface KeyRingSettings {
  jwtSecret: string;
  jwtKeyId: string;
  jwtSecretPrevious?: string;
  jwtKeyIdPrevious: string;
  jwtIssuer: string;
  jwtAudience: string;
  accessTtlSeconds: number;
}

export interface AccessTokens {
  sign(claims: AccessClaims): string;
  /** Verifies signature (by kid), algorithm, issuer, audience and expiry; returns the typed claims. */
  verify(token: string): AccessClaims;
}

function invalid(message = 'The access token is not valid.'): DomainError {
  return new DomainError('unauthenticated', 'invalid_token', message);
}

export function createAccessTokens(settings: KeyRingSettings, now: () => number = Date.now): AccessTokens {
  const ring = new Map<string, string>([[settings.jwtKeyId, settings.jwtSecret]]);
  if (settings.jwtSecretPrevious) ring.set(settings.jwtKeyIdPrevious, settings.jwtSecretPrevious);

  return {
    sign(claims) {
      return jwt.sign(claims, settings.jwtSecret, {
        algorithm: ACCESS_ALGORITHM,
        keyid: settings.jwtKeyId,
        issuer: settings.jwtIssuer,
        audience: settings.jwtAudience,
        expiresIn: settings.accessTtlSeconds,
      });
    },
    verify(token) {
      const decoded = jwt.decode(token, { complete: true });
      if (!decoded || typeof decoded.payload === 'string') throw invalid();
      // Refuse before touching any key: the header chooses neither the algorithm nor an unknown key.
      if (decoded.header.alg !== ACCESS_ALGORITHM) throw invalid();
      const kid = decoded.header.kid;
      const secret = kid ? ring.get(kid) : undefined;
      if (!secret) throw invalid();
      let payload: unknown;
      try {
        payload = jwt.verify(token, secret, {
          algorithms: [ACCESS_ALGORITHM],
          issuer: settings.jwtIssuer,
          audience: settings.jwtAudience,
          clockTimestamp: Math.floor(now() / 1000),
          clockTolerance: 5,
        });
      } catch (err) {
        if (err instanceof jwt.TokenExpiredError)
          throw new DomainError('unauthenticated', 'token_expired', 'The access token has expired; refresh it.');
        throw invalid();
      }
      const claims = AccessClaims.safeParse(payload);
      if (!claims.success) throw invalid();
      return claims.data;
    },
  };
}
