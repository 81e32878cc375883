import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { errorMessage } from '../../kube/errors.js';
import type { RestClient } from '../../kube/rest.js';

/** Who a request comes from, as the API server knows them. */
export interface UserInfo {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/** What a request does, as a SubjectAccessReview's resourceAttributes. */
export interface ResourceAttributes {
  /** Absent for resources that belong to no namespace (SeerNodes). */
  namespace?: string;
  name: string;
  verb: string;
  group: string;
  resource: string;
  subresource: string;
}

/** A request the endpoint refuses: `status` 401 (who are you?) or 403 (not allowed), or 5xx. */
export class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const TOKEN_REVIEWS = '/apis/authentication.k8s.io/v1/tokenreviews';
const SUBJECT_ACCESS_REVIEWS = '/apis/authorization.k8s.io/v1/subjectaccessreviews';

interface TokenReview {
  status?: { authenticated?: boolean; user?: UserInfo; error?: string };
}

interface SubjectAccessReview {
  status?: { allowed?: boolean; denied?: boolean; reason?: string; evaluationError?: string };
}

function asList(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/**
 * Authenticates and authorizes requests as kubelet's webhook mode does: a bearer token is checked
 * with a TokenReview, otherwise a client certificate the cluster's CA signed names the user (its CN)
 * and groups (its Os); then a SubjectAccessReview asks the API server whether that user may do what
 * the request does. Nothing is cached, so a revoked token or binding takes effect at once.
 */
export class Authenticator {
  constructor(private readonly rest: RestClient) {}

  async authenticate(request: IncomingMessage): Promise<UserInfo> {
    const header = request.headers.authorization;
    if (header !== undefined) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (!match?.[1]) throw new Refusal(401, 'the Authorization header is not a bearer token');
      let review: TokenReview;
      try {
        review = await this.rest.request<TokenReview>('POST', TOKEN_REVIEWS, {
          body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: match[1] } },
        });
      } catch (error) {
        throw new Refusal(503, `could not review the token: ${errorMessage(error)}`);
      }
      const user = review.status?.user;
      if (!review.status?.authenticated || !user?.username)
        throw new Refusal(
          401,
          `invalid bearer token${review.status?.error ? `: ${review.status.error}` : ''}`,
        );
      return user;
    }
    const socket = request.socket as TLSSocket;
    if (socket.authorized) {
      const subject = socket.getPeerCertificate().subject as
        Record<string, string | string[] | undefined> | undefined;
      const username = asList(subject?.CN)[0];
      if (username) return { username, groups: [...asList(subject?.O), 'system:authenticated'] };
    }
    if (typeof socket.getPeerCertificate === 'function' && socket.getPeerCertificate()?.subject)
      throw new Refusal(401, `the client certificate is not valid: ${String(socket.authorizationError)}`);
    throw new Refusal(401, 'no credentials: send a bearer token or a client certificate');
  }

  async authorize(user: UserInfo, attributes: ResourceAttributes): Promise<void> {
    let review: SubjectAccessReview;
    try {
      review = await this.rest.request<SubjectAccessReview>('POST', SUBJECT_ACCESS_REVIEWS, {
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: user.username,
            uid: user.uid,
            groups: user.groups,
            extra: user.extra,
            resourceAttributes: attributes,
          },
        },
      });
    } catch (error) {
      throw new Refusal(503, `could not review the access: ${errorMessage(error)}`);
    }
    if (review.status?.allowed) return;
    const { verb, resource, subresource, namespace, name } = attributes;
    const why = review.status?.reason || review.status?.evaluationError;
    throw new Refusal(
      403,
      `user "${user.username}" cannot ${verb} ${resource}/${subresource} "${name}"` +
        (namespace ? ` in namespace "${namespace}"` : '') +
        (why ? `: ${why}` : ''),
    );
  }
}
