/** Sign up and log in. Errors come from the API's problem+json `detail` and are announced (role=alert). */
import { useState } from 'preact/hooks';
import { errorText } from '../lib/api';
import { navigate } from '../lib/router';
import { signIn, signUp } from '../lib/session';

export function Login() {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  return (
    <div class="page narrow">
      <h1 tabIndex={-1}>Log in</h1>
      <form
        class="stack"
        data-testid="login-form"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError('');
          try {
            await signIn(email, password);
            navigate('/');
          } catch (err) {
            setError(errorText(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        <label for="login-email">Email</label>
        <input id="login-email" data-testid="email" type="email" autoComplete="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
        <label for="login-password">Password</label>
        <input id="login-password" data-testid="password" type="password" autoComplete="current-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        {error && (
          <p class="error" role="alert" data-testid="auth-error">
            {error}
          </p>
        )}
        <button class="btn" type="submit" disabled={busy} data-testid="submit">
          {busy ? 'Logging in…' : 'Log in'}
        </button>
      </form>
      <p>
        New here? <a href="/signup">Create an account</a>
      </p>
    </div>
  );
}

export function Signup() {
  const [form, setForm] = useState({ email: '', password: '', displayName: '', role: 'listener' as 'listener' | 'musician' });
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const set = (k: keyof typeof form) => (e: { currentTarget: { value: string } }) => setForm((f) => ({ ...f, [k]: e.currentTarget.value }));
  return (
    <div class="page narrow">
      <h1 tabIndex={-1}>Create an account</h1>
      <form
        class="stack"
        data-testid="signup-form"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError('');
          try {
            await signUp(form);
            navigate(form.role === 'musician' ? '/portal' : '/');
          } catch (err) {
            setError(errorText(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        <label for="su-name">Display name</label>
        <input id="su-name" data-testid="display-name" required value={form.displayName} onInput={set('displayName')} autoComplete="nickname" />
        <label for="su-email">Email</label>
        <input id="su-email" data-testid="email" type="email" required value={form.email} onInput={set('email')} autoComplete="email" />
        <label for="su-password">Password</label>
        <input id="su-password" data-testid="password" type="password" required minLength={8} value={form.password} onInput={set('password')} autoComplete="new-password" aria-describedby="su-pw-hint" />
        <span id="su-pw-hint" class="muted">
          At least 8 characters.
        </span>
        <fieldset class="roles">
          <legend>I am a</legend>
          <label class="check">
            <input type="radio" name="role" value="listener" data-testid="role-listener" checked={form.role === 'listener'} onChange={() => setForm((f) => ({ ...f, role: 'listener' }))} /> Listener
          </label>
          <label class="check">
            <input type="radio" name="role" value="musician" data-testid="role-musician" checked={form.role === 'musician'} onChange={() => setForm((f) => ({ ...f, role: 'musician' }))} /> Musician
          </label>
        </fieldset>
        {error && (
          <p class="error" role="alert" data-testid="auth-error">
            {error}
          </p>
        )}
        <button class="btn" type="submit" disabled={busy} data-testid="submit">
          {busy ? 'Creating…' : 'Create account'}
        </button>
      </form>
      <p>
        Have an account? <a href="/login">Log in</a>
      </p>
    </div>
  );
}
