package admin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/crier-hub/crier/internal/config"
)

// webdriver is the little of the W3C WebDriver protocol the dashboard test
// needs, spoken to Debian's chromedriver driving a headless Chromium.
type webdriver struct {
	t       *testing.T
	base    string
	session string
}

func (d *webdriver) do(method, path string, body any) map[string]any {
	d.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, d.base+path, r)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatalf("webdriver %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 {
		d.t.Fatalf("webdriver %s %s: %d %v", method, path, resp.StatusCode, out)
	}
	return out
}

func (d *webdriver) visit(u string) {
	d.do("POST", "/session/"+d.session+"/url", map[string]string{"url": u})
}

func (d *webdriver) find(css string) string {
	v := d.do("POST", "/session/"+d.session+"/element", map[string]string{"using": "css selector", "value": css})["value"].(map[string]any)
	for _, id := range v {
		return id.(string)
	}
	d.t.Fatalf("no element %s", css)
	return ""
}

func (d *webdriver) typeInto(css, text string) {
	d.do("POST", "/session/"+d.session+"/element/"+d.find(css)+"/value", map[string]string{"text": text})
}

func (d *webdriver) click(css string) {
	d.do("POST", "/session/"+d.session+"/element/"+d.find(css)+"/click", map[string]any{})
}

// sourceWith waits (a click's navigation may still be under way) for a page
// that contains want, and returns the page as it is then.
func (d *webdriver) sourceWith(want string) string {
	var page string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if page = d.source(); strings.Contains(page, want) {
			break
		}
	}
	return page
}

func (d *webdriver) source() string {
	return d.do("GET", "/session/"+d.session+"/source", nil)["value"].(string)
}

// startBrowser starts chromedriver and a headless Chromium session, or
// skips (fails, under CRIER_VALIDATORS) when they are not installed.
func startBrowser(t *testing.T) *webdriver {
	driver, err := exec.LookPath("chromedriver")
	browser, err2 := exec.LookPath("chromium")
	if err != nil || err2 != nil {
		if os.Getenv("CRIER_VALIDATORS") != "" {
			t.Fatal("CRIER_VALIDATORS is set but chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
		}
		t.Skip("chromium and chromedriver are not installed: the dashboard is not tested in a browser (bash .ci/run installs them)")
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(driver, fmt.Sprintf("--port=%d", port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	d := &webdriver{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	for i := 0; i < 100; i++ {
		if resp, err := http.Get(d.base + "/status"); err == nil {
			resp.Body.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	caps := map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		"goog:chromeOptions": map[string]any{"binary": browser, "args": []string{"--headless=new", "--no-sandbox", "--disable-gpu",
			"--disable-dev-shm-usage", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
			"--disable-sync", "--window-size=1280,1400", "--user-data-dir=" + t.TempDir()}},
	}}}
	out := d.do("POST", "/session", caps)
	d.session = out["value"].(map[string]any)["sessionId"].(string)
	t.Cleanup(func() {
		req, _ := http.NewRequest("DELETE", d.base+"/session/"+d.session, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	})
	return d
}

// An admin logs in with the token, sees the sources, presses pause on a
// subscriber and sees it paused, in a real browser. CRIER_SCREENSHOT
// names a file for a picture of the dashboard.
func TestDashboardInABrowser(t *testing.T) {
	token := "a-long-enough-admin-token"
	srv, st := setup(t, token)
	d := startBrowser(t)
	d.visit(srv.URL + "/admin/")
	if !strings.Contains(d.source(), `name="token"`) {
		t.Fatal("the dashboard did not ask for the token first")
	}
	d.typeInto("#token", "wrong-token-wrong-token")
	d.click("#login")
	if !strings.Contains(d.sourceWith("not the admin token"), "not the admin token") {
		t.Error("a wrong token was not refused")
	}
	d.typeInto("#token", token)
	d.click("#login")
	page := d.sourceWith(`id="sources"`)
	if !strings.Contains(page, `id="sources"`) || !strings.Contains(page, "<b>s</b>") {
		t.Fatalf("after logging in, no sources:\n%.2000s", page)
	}
	if !strings.Contains(page, "active") {
		t.Errorf("the subscriber is not shown active")
	}
	d.click("#pause-p")
	page = d.sourceWith(`<span class="bad">paused</span>`)
	if !strings.Contains(page, `<span class="bad">paused</span>`) {
		t.Errorf("after pressing pause, the subscriber is not shown paused:\n%.3000s", page)
	}
	subs, _ := st.Subscribers(context.Background())
	if !subs["p"].Paused {
		t.Error("pause on the dashboard did not pause the subscriber")
	}
	if path := os.Getenv("CRIER_SCREENSHOT"); path != "" {
		png := d.do("GET", "/session/"+d.session+"/screenshot", nil)["value"].(string)
		b, _ := base64.StdEncoding.DecodeString(png)
		os.WriteFile(path, b, 0o644)
	}
}

// A form posted from another site, or without the page's token, changes
// nothing; without the session cookie the dashboard sends to the login.
func TestDashboardRefusesCrossSiteForms(t *testing.T) {
	token := "a-long-enough-admin-token"
	srv, st := setup(t, token)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(srv.URL + "/admin/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/login" {
		t.Errorf("without a session: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	login, _ := noRedirect.PostForm(srv.URL+"/admin/login", url.Values{"token": {token}})
	login.Body.Close()
	var cookie *http.Cookie
	for _, c := range login.Cookies() {
		if c.Name == sessionCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || strings.Contains(cookie.Value, token) {
		t.Fatalf("session cookie %+v", cookie)
	}
	for name, f := range map[string]func(r *http.Request){
		"other origin":  func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") },
		"cross-site":    func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") },
		"no page token": func(r *http.Request) { r.Form = nil },
	} {
		form := url.Values{"do": {"pause"}, "id": {"p"}}
		if name != "no page token" {
			form.Set("csrf", (&API{Cfg: &config.Config{Server: config.Server{AdminToken: token}}}).derive("csrf"))
		}
		req, _ := http.NewRequest("POST", srv.URL+"/admin/action", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(cookie)
		f(req)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, resp.StatusCode)
		}
	}
	if subs, _ := st.Subscribers(context.Background()); subs["p"].Paused {
		t.Error("a refused form paused the subscriber")
	}
}
