/** Sign-up: the API creates the account, then Django's login form opens the session. */
import { ApiError, api, describeError } from "../api.js";
import { $ } from "../ui.js";
const form = document.getElementById("signup");
form?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const username = String(data.get("username") ?? "").trim();
    const password = String(data.get("password") ?? "");
    const error = $("#signup-error");
    error.hidden = true;
    try {
        await api.post("/api/auth/register/", { username, password });
    }
    catch (failure) {
        error.textContent = failure instanceof ApiError ? describeError(failure) : "The server cannot be reached.";
        error.hidden = false;
        return;
    }
    const login = $("#signup-login");
    login.elements.namedItem("username").value = username;
    login.elements.namedItem("password").value = password;
    login.submit();
});
//# sourceMappingURL=signup.js.map