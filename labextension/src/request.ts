import { ServerConnection } from '@jupyterlab/services';

/** Where the server extension's routes live, relative to the server's base URL. */
export const API_NAMESPACE = 'jupyter-mlops/api';

/** The command that enables the server extension. */
export const ENABLE_COMMAND = 'jupyter server extension enable jupyter_mlops';

/** Shown when the routes are missing: the Python side is installed but not enabled. */
export const NOT_ENABLED_MESSAGE =
  'the jupyter_mlops server extension is not enabled — run: ' + ENABLE_COMMAND;

/**
 * An error reply of the server extension: its status, its `message`, and the whole JSON body
 * (a refused promotion carries the gate's `report`).
 */
export class ApiError extends ServerConnection.ResponseError {
  constructor(
    response: Response,
    message: string,
    readonly body: any = null
  ) {
    super(response, message);
    this.name = 'ApiError';
  }

  /** The HTTP status. */
  get status(): number {
    return this.response.status;
  }

  /** Whether no route answered at all: the server extension is not enabled. */
  get notEnabled(): boolean {
    return this.message === NOT_ENABLED_MESSAGE;
  }
}

/**
 * Call a route of the jupyter_mlops server extension.
 *
 * @param endPoint route below `/jupyter-mlops/api/`, e.g. `experiments` (already URL-encoded)
 * @param init fetch options (method, body...)
 * @param settings server connection settings (default: the page's own server)
 * @returns the reply body parsed as JSON
 * @throws ApiError whose message is the server's `message`, or {@link NOT_ENABLED_MESSAGE}
 *   when no route answers at all; ServerConnection.NetworkError when the server is unreachable
 */
export async function requestAPI<T>(
  endPoint: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  // Plain concatenation, not URLExt.join: a join would normalize '..' segments of names.
  const base = settings.baseUrl.endsWith('/')
    ? settings.baseUrl
    : `${settings.baseUrl}/`;
  const url = `${base}${API_NAMESPACE}/${endPoint}`;

  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new ServerConnection.NetworkError(error as TypeError);
  }

  const text = await response.text();
  let data: any = text;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      // Not JSON: Jupyter's own HTML error page, e.g. the 404 of an unknown route.
    }
  }

  if (!response.ok) {
    const body = data !== null && typeof data === 'object' ? data : null;
    const message =
      body !== null && typeof body.message === 'string'
        ? (body.message as string)
        : undefined;
    // Our routes always answer errors with {"message": ...}; a bare 404 means no route.
    if (response.status === 404 && message === undefined) {
      throw new ApiError(response, NOT_ENABLED_MESSAGE, body);
    }
    throw new ApiError(
      response,
      message ?? `${response.status} ${response.statusText}`,
      body
    );
  }
  return data as T;
}

/** A query string from `params` (arrays repeat the key; empty values are left out). */
export function queryString(
  params: Record<string, string | number | null | undefined | string[]>
): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(params)) {
    const values = Array.isArray(value) ? value : [value];
    for (const item of values) {
      if (item !== null && item !== undefined && item !== '') {
        parts.push(
          `${encodeURIComponent(key)}=${encodeURIComponent(String(item))}`
        );
      }
    }
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

/** The message to show for any error a request can throw. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    return error.message;
  }
  return String(error);
}
