// Test OpenID Connect provider for Gatehouse's SSO tests: panva/oidc-provider v9 with its
// built-in login and consent pages (any login id, any password). Never for production.
//
// Environment (all optional):
//   IDP_HOST                       listen address (default 127.0.0.1)
//   IDP_PORT                       port (default 0: a free one; the issuer says which)
//   IDP_ISSUER                     issuer URL (default http://IDP_HOST:<port>)
//   IDP_CLIENT_ID, IDP_CLIENT_SECRET, IDP_REDIRECT_URIS (comma-separated)
//   IDP_POST_LOGOUT_REDIRECT_URIS  (comma-separated; default: /accounts/login/ and / of each
//                                  redirect URI's origin)
//   IDP_ACCOUNTS                   JSON {"<login id>": {claim overrides}}; a claim set to null
//                                  is not released at all. Extra keys:
//                                    "token": "expired" | "unknown-key" | "forged-signature" |
//                                             "wrong-audience" (what goes wrong with its ID token)
//                                    "removed": true  (the account no longer exists)
//   IDP_TEST_API=1                 PUT/DELETE /_test/accounts/<login id> change IDP_ACCOUNTS
//                                  while running (a JSON body of overrides, like above).
//
// Claims of a login id without overrides: sub = the id; email = the id if it has an "@", else
// <id>@example.com; email_verified = true; names from the local part.
// Prints "READY <issuer>" on stdout once it listens.
import { createServer } from 'node:http';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import Provider, { interactionPolicy } from 'oidc-provider';

const HOST = process.env.IDP_HOST || '127.0.0.1';
const PORT = Number(process.env.IDP_PORT || 0);
const REDIRECT_URIS = (process.env.IDP_REDIRECT_URIS || 'http://localhost:8000/oidc/callback/')
  .split(',').map((u) => u.trim()).filter(Boolean);
const POST_LOGOUT_URIS = process.env.IDP_POST_LOGOUT_REDIRECT_URIS
  ? process.env.IDP_POST_LOGOUT_REDIRECT_URIS.split(',').map((u) => u.trim()).filter(Boolean)
  : REDIRECT_URIS.flatMap((u) => [new URL('/accounts/login/', u).href, new URL('/', u).href]);
const CLIENT_ID = process.env.IDP_CLIENT_ID || 'gatehouse';
const CLIENT_SECRET = process.env.IDP_CLIENT_SECRET || 'gatehouse-test-secret-not-for-production';
const accounts = new Map(Object.entries(JSON.parse(process.env.IDP_ACCOUNTS || '{}')));

// The provider's signing key, and a stranger's key for the "token signed by someone else" cases.
function rsaKey(kid) {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid, privateKey, jwk: { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' } };
}
const signingKey = rsaKey('idp-test-key-1');
const rogueKey = rsaKey('rogue-key');

const b64url = (value) => Buffer.from(value).toString('base64url');
function signJwt(header, payload, privateKey) {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
}
function decodeJwt(token) {
  const [header, payload] = token.split('.').slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url')));
  return { header, payload };
}

function claimsFor(id) {
  const local = id.split('@')[0];
  const given = local.split('.')[0];
  const family = local.split('.')[1] || 'Tester';
  const cap = (s) => s.charAt(0).toUpperCase() + s.slice(1);
  const claims = {
    sub: id,
    email: id.includes('@') ? id : `${id}@example.com`,
    email_verified: true,
    preferred_username: local,
    given_name: cap(given),
    family_name: cap(family),
    name: `${cap(given)} ${cap(family)}`,
    groups: [],
  };
  const overrides = accounts.get(id) || {};
  for (const [key, value] of Object.entries(overrides)) {
    if (key === 'token' || key === 'removed') continue;
    if (value === null) delete claims[key];
    else claims[key] = value;
  }
  claims.sub = id; // the subject is the login id, whatever the overrides say
  return claims;
}

// A session whose account was removed must sign in again (prompt=none: login_required), as at
// a real provider; oidc-provider alone would keep trusting the session's account id.
const { Check } = interactionPolicy;
const policy = interactionPolicy.base();
policy.get('login').checks.unshift(new Check(
  'account_removed',
  'The account no longer exists',
  'login_required',
  (ctx) => (ctx.oidc.session.accountId && !ctx.oidc.account ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT),
));

const configuration = {
  interactions: { policy },
  clients: [{
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    redirect_uris: REDIRECT_URIS,
    post_logout_redirect_uris: POST_LOGOUT_URIS,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  // scope -> claims; without "email" here the email claim is never released.
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username', 'groups'],
  },
  async findAccount(ctx, id) {
    if (accounts.get(id)?.removed) return undefined;
    return { accountId: id, async claims() { return claimsFor(id); } };
  },
  jwks: { keys: [signingKey.jwk] },
  cookies: { keys: [createHash('sha256').update(CLIENT_SECRET).digest('hex')] },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  pkce: { required: () => true },
  ttl: { IdToken: 600, AccessToken: 600, AuthorizationCode: 60, Session: 3600, Interaction: 600, Grant: 3600 },
};

// Break the ID token of accounts that ask for it, after the provider made a good one.
function tamper(idToken) {
  const { header, payload } = decodeJwt(idToken);
  const scenario = accounts.get(payload.sub)?.token;
  const now = Math.floor(Date.now() / 1000);
  switch (scenario) {
    case 'expired':
      return signJwt(header, { ...payload, iat: now - 7200, exp: now - 3600 }, signingKey.privateKey);
    case 'unknown-key':
      return signJwt({ ...header, kid: rogueKey.kid }, payload, rogueKey.privateKey);
    case 'forged-signature':
      return signJwt(header, payload, rogueKey.privateKey);
    case 'wrong-audience':
      return signJwt(header, { ...payload, aud: 'another-client' }, signingKey.privateKey);
    default:
      return idToken;
  }
}

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
}

const server = createServer();
server.listen(PORT, HOST, () => {
  const { port } = server.address();
  const issuer = process.env.IDP_ISSUER || `http://${HOST}:${port}`;
  const provider = new Provider(issuer, configuration);
  provider.proxy = false;
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  provider.on('grant.error', (ctx, err) => console.error('grant.error', err.message, err.error_description || ''));

  provider.use(async (ctx, next) => {
    const match = ctx.path.match(/^\/_test\/accounts\/(.+)$/);
    if (match && process.env.IDP_TEST_API === '1') {
      const id = decodeURIComponent(match[1]);
      if (ctx.method === 'PUT') accounts.set(id, await readJson(ctx.req));
      else if (ctx.method === 'DELETE') accounts.delete(id);
      else ctx.throw(405);
      ctx.status = 204;
      return;
    }
    await next();
    if (ctx.path === '/token' && ctx.status === 200 && ctx.body?.id_token) {
      ctx.body = { ...ctx.body, id_token: tamper(ctx.body.id_token) };
    }
  });

  server.on('request', provider.callback());
  console.log(`READY ${issuer}`);
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
