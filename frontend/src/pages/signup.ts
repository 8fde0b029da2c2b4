/** Sign-up: the API creates the account, then Django's login form opens the session. */

import { ApiError, api, describeError } from "../api.js";
import { $ } from "../ui.js";

const form = document.getElementById("signup") as HTMLFormElement | null;
form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData(form);
  const username = String(data.get("username") ?? "").trim();
  const password = String(data.get("password") ?? "");
  const error = $("#signup-error");
  error.hidden = true;
  try {
    await api.post("/api/auth/register/", { username, password });
  } catch (failure) {
    error.textContent = failure instanceof ApiError ? describeError(failure) : "The server cannot be reached.";
    error.hidden = false;
    return;
  }
  const login = $("#signup-login") as HTMLFormElement;
  (login.elements.namedItem("username") as HTMLInputElement).value = username;
  (login.elements.namedItem("password") as HTMLInputElement).value = password;
  login.submit();
});
