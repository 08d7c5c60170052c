// The OpenID provider of the sign-in tests: the certified `oidc-provider` package on loopback.
//
// Started by tests/common/oidc.py with one JSON argument: {port, clients, accounts}. It adds to
// the provider only what a test needs to drive it:
// - a login page at /interaction/<uid> (a form with the account id; no password) that grants
//   every requested scope, so a browser or a plain HTTP client can sign in;
// - POST /__test/accounts replaces the accounts (a test moves someone out of a group; an account
//   removed makes its refresh tokens refused with invalid_grant);
// - POST /__test/tamper {"mode": ...} makes the token endpoint answer the next code exchange
//   with a doctored ID token: "forged" (signed by a key the provider never published, with the
//   published key's id), "expired" (exp an hour ago), "audience" (issued to another client),
//   signed with the real key in the last two cases; "" turns it off.
import http from 'node:http';

import * as jose from 'jose';
import Provider from 'oidc-provider';

const settings = JSON.parse(process.argv[2]);
const issuer = `http://127.0.0.1:${settings.port}`;
let accounts = settings.accounts;
let tamper = '';

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const signingJwk = { ...(await jose.exportJWK(privateKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
const { privateKey: strangerKey } = await jose.generateKeyPair('RS256');

const provider = new Provider(issuer, {
  clients: settings.clients,
  jwks: { keys: [signingJwk] },
  cookies: { keys: ['labelhive-tests-only'] },
  pkce: { required: () => true },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  // the scopes' claims go into the ID token itself (what Keycloak, Dex and Entra ID do)
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  // a client allowed the refresh_token grant gets a refresh token at every sign-in, as from
  // Keycloak or Okta (this provider honours offline_access only with prompt=consent), which
  // outlives the provider's browser session and is replaced at every use (the strictest case)
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  expiresWithSession: async () => false,
  rotateRefreshToken: true,
  async findAccount(ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...account }) };
  },
});

// doctor the next token response when a test asked for it
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path !== '/token' || !tamper || !ctx.body || !ctx.body.id_token) return;
  const mode = tamper;
  tamper = '';
  const claims = jose.decodeJwt(ctx.body.id_token);
  const now = Math.floor(Date.now() / 1000);
  let key = privateKey;
  if (mode === 'forged') key = strangerKey;
  if (mode === 'expired') Object.assign(claims, { iat: now - 7200, exp: now - 3600 });
  if (mode === 'audience') claims.aud = 'another-client';
  ctx.body = {
    ...ctx.body,
    id_token: await new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(key),
  };
});

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString();
}

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'GET') {
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(`<!doctype html><title>Test provider sign-in</title>
<form method="post" action="/interaction/${escape(details.uid)}">
<label>Account <input name="login" autofocus></label>
<button type="submit">Sign in at the provider</button></form>`);
    return;
  }
  const login = new URLSearchParams(await readBody(req)).get('login') || '';
  if (!accounts[login]) {
    res.statusCode = 400;
    res.end('unknown account');
    return;
  }
  const grant = new provider.Grant({ accountId: login, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const grantId = await grant.save();
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId: login }, consent: { grantId } },
    { mergeWithLastSubmission: false },
  );
}

async function control(req, res) {
  const body = JSON.parse((await readBody(req)) || '{}');
  if (req.url === '/__test/accounts') accounts = body;
  else if (req.url === '/__test/tamper') tamper = body.mode || '';
  else res.statusCode = 404;
  res.end();
}

const callback = provider.callback();
const server = http.createServer((req, res) => {
  const handle = req.url.startsWith('/interaction/')
    ? interaction
    : req.url.startsWith('/__test/') && req.method === 'POST'
      ? control
      : callback;
  Promise.resolve(handle(req, res)).catch((err) => {
    console.error(err);
    res.statusCode = 500;
    res.end(String(err));
  });
});
server.listen(settings.port, '127.0.0.1', () => console.log(`listening ${issuer}`));
