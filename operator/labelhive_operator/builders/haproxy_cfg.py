# ruff: noqa: E501  (the embedded file keeps its own line lengths)
"""The project's ``haproxy/haproxy.cfg``, embedded so the operator ships the very same file.

The operator image installs the distribution without the repository around it, so the file
travels as this module. ``tests/operator/builders/test_haproxy.py`` checks that :data:`TEXT` is
byte for byte ``haproxy/haproxy.cfg``; after editing that file, paste it here between the quotes
(the file holds no triple quote and does not end in a backslash, so a raw string keeps it
verbatim).

Do not edit the configuration here: edit ``haproxy/haproxy.cfg``, which the integration tests run
with a real HAProxy, then copy it.
"""

#: the configuration; HAProxy substitutes the ``${VAR}`` references from its environment
TEXT = r"""# LabelHive's HAProxy sidecar: the web Pod's entry point.
#
#   /haproxy-health          answered by HAProxy itself (the Pod's readiness probe): 200 only
#                            while gunicorn is up in HAProxy's view, else 503
#   /metrics, /readyz        404: Prometheus and the kubelet reach gunicorn's port directly
#   ${S3_PROXY_PREFIX}/...   GET/HEAD of a well-formed presigned URL of an object in one of
#                            S3_PROXY_BUCKETS only (else 405/403), prefix stripped, Host set to the
#                            signed host, forwarded to the private S3 endpoint, which checks the
#                            signature and the expiry itself
#   everything else          gunicorn
#
# No rendering step: HAProxy substitutes the environment variables itself ("${NAME-default}").
# `labelhive serve --with-proxy` and the tests compute them with labelhive.storage.proxy.haproxy_env.
#
#   HAPROXY_LISTEN        address:port to listen on                          default :8080
#   HAPROXY_APP           gunicorn's address:port                            default 127.0.0.1:5000
#   S3_PROXY_PREFIX       path prefix the app's image URLs start with        default /s3
#   S3_PROXY_BUCKETS      the buckets image URLs may name, space-separated (the app's S3_BUCKET
#                         and S3_BUCKETS); unset or empty: every S3 request is refused (403)
#   S3_UPSTREAM           S3 endpoint address:port; unset: no S3 (503)
#   S3_UPSTREAM_HOST      the Host header the URLs were signed for: the host of S3_ENDPOINT_URL,
#                         with its port only when it is not the scheme's default
#   S3_UPSTREAM_TLS       1: TLS to the endpoint (real AWS, VPC endpoints)  default 0
#   S3_UPSTREAM_CA_FILE   CA bundle for the endpoint's certificate           default @system-ca
#   S3_UPSTREAM_SNI       TLS server name                                    default S3_UPSTREAM_HOST's host
#
# Signatures are secrets until they expire: no log line here carries a query string.

global
    log stdout format raw local0 info
    maxconn 4096
    # the whole configuration is this file: nothing is read from or written to disk at run time
    tune.bufsize 32768

defaults
    mode http
    log global
    option dontlognull
    timeout connect 5s
    timeout client 65s
    timeout server 65s
    timeout http-request 10s
    timeout http-keep-alive 10s
    timeout queue 10s
    # method and path only: %HPO is the path without its query string
    log-format "%ci [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %tsc %HM %HPO %HV"

frontend http
    bind "${HAPROXY_LISTEN-:8080}"
    monitor-uri /haproxy-health
    # ready only when a request would reach gunicorn: no 503 "No server is available" after it
    monitor fail if { nbsrv(app) lt 1 }

    # the app's probe and scrape endpoints are not the world's (decoded: werkzeug decodes too)
    acl internal_path path,url_dec -m str /metrics /readyz
    http-request deny deny_status 404 if internal_path

    acl s3_path     path_beg "${S3_PROXY_PREFIX-/s3}/"
    acl read_method method GET HEAD
    http-request deny deny_status 405 if s3_path !read_method

    use_backend s3 if s3_path
    default_backend app

backend app
    option forwardfor
    option httpchk GET /healthz
    # up on the first passing check, and checked every second while down or changing state
    server app "${HAPROXY_APP-127.0.0.1:5000}" check inter 5s fastinter 1s downinter 1s rise 1 fall 3

backend s3
    # Only well-formed presigned URLs of an object in one of the buckets go on. S3 verifies a
    # signature when there is one; without one it may serve the object anyway (LocalStack does;
    # a bucket policy that trusts the VPC endpoint would too), so "there is one" is decided
    # here exactly as S3 reads the query: pairs split on "&" only (url_param also splits on ";"
    # and "?", which once let "?a=;X-Amz-Signature=x" pass unsigned), names taken literally.

    # the bucket (the first segment after the prefix, undecoded) and a key after it
    acl s3_bucket   "path,regsub(^${S3_PROXY_PREFIX-/s3}/,),field(1,/)" -m str "${S3_PROXY_BUCKETS[*]}"
    acl s3_key      path -m reg "^${S3_PROXY_PREFIX-/s3}/[^/]+/[^/]"
    # "." and ".." segments, plain or percent-encoded: no key the app signs has them
    acl dot_segment path -m reg -i '/(%2e|[.]){1,2}(/|$)' '%2e%2e'
    # separators S3 does not split on, a fragment, and percent-encoded parameter names
    acl q_odd       query -m reg '[;?#]' '(^|&)[^&=]*%'
    # each SigV4 parameter at most once, whatever its case
    acl q_twice     query -m reg -i '(^|&)X-Amz-Algorithm=.*&X-Amz-Algorithm=' '(^|&)X-Amz-Credential=.*&X-Amz-Credential='
    acl q_twice     query -m reg -i '(^|&)X-Amz-Date=.*&X-Amz-Date=' '(^|&)X-Amz-Expires=.*&X-Amz-Expires='
    acl q_twice     query -m reg -i '(^|&)X-Amz-SignedHeaders=.*&X-Amz-SignedHeaders=' '(^|&)X-Amz-Signature=.*&X-Amz-Signature='
    acl q_twice     query -m reg -i '(^|&)X-Amz-Security-Token=.*&X-Amz-Security-Token='
    # ... and each of them there, in S3's own spelling, with a value of the right form
    acl q_algorithm query -m reg '(^|&)X-Amz-Algorithm=AWS4-HMAC-SHA256(&|$)'
    acl q_credential query -m reg '(^|&)X-Amz-Credential=[^&]+'
    acl q_date      query -m reg '(^|&)X-Amz-Date=[0-9]{8}T[0-9]{6}Z(&|$)'
    acl q_expires   query -m reg '(^|&)X-Amz-Expires=[0-9]{1,6}(&|$)'
    acl q_headers   query -m reg '(^|&)X-Amz-SignedHeaders=[^&]+'
    acl q_signature query -m reg '(^|&)X-Amz-Signature=[0-9a-f]{64}(&|$)'
    http-request deny deny_status 403 if !s3_bucket or !s3_key or dot_segment or q_odd or q_twice
    http-request deny deny_status 403 if !q_algorithm or !q_credential or !q_date or !q_expires
    http-request deny deny_status 403 if !q_headers or !q_signature

    # nothing of the user's session or of the app's credentials goes to S3; x-amz-* headers the
    # URL did not sign would make S3 refuse it, and an Authorization header next to a query
    # signature is refused too
    http-request del-header Cookie
    http-request del-header Authorization
    http-request del-header Proxy-Authorization
    http-request del-header Referer
    http-request del-header X-Forwarded-For
    http-request del-header ^x-amz- -m reg
    http-request set-path "%[path,regsub(^${S3_PROXY_PREFIX-/s3}/,/)]"
    http-request set-header Host "${S3_UPSTREAM_HOST-s3.amazonaws.com}"

    # the bytes are served from the app's own origin: never let an object run as a page there
    http-response set-header X-Content-Type-Options nosniff
    http-response set-header Content-Security-Policy "default-src 'none'; sandbox"
    http-response set-header Cache-Control "private, max-age=300" if !{ res.hdr(Cache-Control) -m found }
    http-response del-header Set-Cookie

.if streq("${S3_UPSTREAM_TLS-0}",1)
    server s3 "${S3_UPSTREAM}" ssl verify required ca-file "${S3_UPSTREAM_CA_FILE-@system-ca}" sni str("${S3_UPSTREAM_SNI}") init-addr last,libc,none
.elif defined(S3_UPSTREAM)
    server s3 "${S3_UPSTREAM}" init-addr last,libc,none
.endif
"""
