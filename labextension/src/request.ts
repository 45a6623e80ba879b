import { ServerConnection } from '@jupyterlab/services';

/** Where the server extension's routes live, relative to the server's base URL. */
export const API_NAMESPACE = 'jupyter-mlops/api';

/** Shown when the routes are missing: the Python side is installed but not enabled. */
export const NOT_ENABLED_MESSAGE =
  'the jupyter_mlops server extension is not enabled — run: ' +
  'jupyter server extension enable jupyter_mlops';

/**
 * Call a route of the jupyter_mlops server extension.
 *
 * @param endPoint route below `/jupyter-mlops/api/`, e.g. `experiments`
 * @param init fetch options (method, body...)
 * @param settings server connection settings (default: the page's own server)
 * @returns the reply body parsed as JSON
 * @throws ServerConnection.ResponseError whose message is the server's `message`, or
 *   {@link NOT_ENABLED_MESSAGE} when no route answers at all
 */
export async function requestAPI<T>(
  endPoint: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
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
    const message =
      data !== null && typeof data === 'object' && typeof data.message === 'string'
        ? (data.message as string)
        : undefined;
    // Our routes always answer errors with {"message": ...}; a bare 404 means no route.
    if (response.status === 404 && message === undefined) {
      throw new ServerConnection.ResponseError(response, NOT_ENABLED_MESSAGE);
    }
    throw new ServerConnection.ResponseError(
      response,
      message ?? `${response.status} ${response.statusText}`
    );
  }
  return data as T;
}
