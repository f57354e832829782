// The API client: bearer token from localStorage, problem+json errors as exceptions.
const TOKEN_KEY = "spreadwatch.token";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

export function token() { return localStorage.getItem(TOKEN_KEY) || ""; }

export function setToken(value) {
  if (value) localStorage.setItem(TOKEN_KEY, value.trim());
  else localStorage.removeItem(TOKEN_KEY);
}

export function authHeaders() {
  return token() ? { Authorization: `Bearer ${token()}` } : {};
}

async function request(method, path, body) {
  const headers = { Accept: "application/json", ...authHeaders() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, data || {});
  return data;
}

export const get = (path) => request("GET", path);
export const post = (path, body) => request("POST", path, body);

// Every row of a paginated endpoint (follows `next`), up to `max` rows.
export async function all(path, max = 20000) {
  const items = [];
  let next = path + (path.includes("?") ? "&" : "?") + "limit=1000";
  while (next && items.length < max) {
    const page = await get(next.replace(/^https?:\/\/[^/]+/, ""));
    items.push(...page.items);
    next = page.next;
  }
  return items;
}
