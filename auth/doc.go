// Package auth turns credentials into a verified *storage.Principal. It has
// no HTTP server code: front ends (package httpapi, a tus front end, the
// Workers build) extract the credential and call it.
//
// Three kinds of credential are handled:
//
//   - Bearer JWTs from an identity provider, checked by a Verifier against
//     HMAC secrets (HS256/384/512) and/or the public keys of a JWKS endpoint
//     (RS256/384/512, PS256/384/512, ES256/384/512, EdDSA with Ed25519).
//   - Upload tokens ("mnu." prefix), minted by the service's Signer and
//     scoped to one upload.
//   - Share links: query parameters "expires" and "sig" that a Signer adds to
//     a download URL so that anyone holding the URL may read one file until it
//     expires.
//
// An Authenticator routes a bearer credential to the right checker.
//
// Every refusal is a *storage.Error with storage.CodeUnauthorized (tokens) or
// storage.CodeInvalidSignature / storage.CodeLinkExpired (share links) and a
// message that names the problem. No message or log line ever contains the
// credential or any part of it.
//
// # Why golang-jwt/jwt v5
//
// JWT parsing and claim validation use github.com/golang-jwt/jwt/v5: it is
// small (no dependencies outside the standard library), the most widely used
// Go JWT library, and it makes algorithm pinning explicit. The parser is
// built with WithValidMethods (only the algorithms of the configured key
// sources; never "none"), and the Keyfunc returns, per token, only keys whose
// type matches the token's algorithm: HMAC secrets for HS*, and for the
// other algorithms only JWKS keys of that family (RSA for RS*/PS*, EC on the
// matching curve for ES*, Ed25519 for EdDSA) whose own "alg", when present,
// equals the token's. A token signed with HS256 using an RSA public key as
// the secret therefore never meets the RSA key as an HMAC secret.
//
// The JWKS document is parsed with the standard library (crypto/rsa,
// crypto/ecdsa, crypto/ed25519): the format needed here is small, and doing it
// directly lets the package refuse weak or ill-formed keys (RSA under 2048
// bits, EC points off the curve, "oct" symmetric keys, keys whose "use" or
// "key_ops" exclude verification) with a precise log line, without another
// dependency's HTTP client or cache goroutines.
package auth
