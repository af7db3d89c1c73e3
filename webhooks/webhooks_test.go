package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// The example of the Standard Webhooks specification's reference
// implementations: this secret, id, timestamp and body sign to this value.
const (
	specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTS     = 1614265330
	specBody   = `{"test": 2432232314}`
	specSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignMatchesSpecification(t *testing.T) {
	got, err := Sign([]string{specSecret}, specID, time.Unix(specTS, 0), []byte(specBody))
	if err != nil {
		t.Fatal(err)
	}
	if got != specSig {
		t.Errorf("got %s, want %s", got, specSig)
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(specTS, 0)
	h := http.Header{}
	other := "whsec_" + "c2Vjb25kIHNlY3JldCBmb3Igcm90YXRpb24="
	if err := SetHeaders(h, []string{other, specSecret}, specID, now, []byte(specBody)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		secrets []string
		body    string
		now     time.Time
		want    error
	}{
		{"valid", []string{specSecret}, specBody, now, nil},
		{"rotated secret", []string{other}, specBody, now, nil},
		{"flipped byte", []string{specSecret}, `{"test": 2432232315}`, now, ErrNoValidMatch},
		{"stale", []string{specSecret}, specBody, now.Add(10 * time.Minute), ErrStale},
		{"future", []string{specSecret}, specBody, now.Add(-10 * time.Minute), ErrStale},
		{"wrong secret", []string{"whsec_d3Jvbmc="}, specBody, now, ErrNoValidMatch},
		{"bad secret", []string{"plain"}, specBody, now, ErrBadSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Verify(tt.secrets, h, []byte(tt.body), tt.now); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
	if err := Verify([]string{specSecret}, http.Header{}, []byte(specBody), now); !errors.Is(err, ErrMissing) {
		t.Errorf("no headers: got %v, want ErrMissing", err)
	}
}

// A Signer signs as the specification says (an HMAC-SHA256 of
// "id.timestamp.body" per secret, computed here without the package),
// from many goroutines at once, and its keyed HMACs are cloned, not keyed
// again for each signature.
func TestSignerSignsAsSpecified(t *testing.T) {
	secrets := []string{"whsec_" + base64.StdEncoding.EncodeToString([]byte("first-secret-first-secret-32byte")),
		"whsec_" + base64.StdEncoding.EncodeToString([]byte("second-secret"))}
	ts := time.Unix(1764964800, 0)
	for _, list := range [][]string{secrets[:1], secrets} {
		s, err := NewSigner(list)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := s.keyed[0].(hash.Cloner); !ok {
			t.Error("the keyed HMAC cannot be cloned: every signature keys it again")
		}
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				id, body := fmt.Sprintf("msg_%d", i), []byte(strings.Repeat("x", 100*i))
				var want []string
				for _, secret := range list {
					key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
					m := hmac.New(sha256.New, key)
					fmt.Fprintf(m, "%s.%d.%s", id, ts.Unix(), body)
					want = append(want, "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
				}
				if got := s.Sign(id, ts, body); got != strings.Join(want, " ") {
					t.Errorf("signer %q, want %q", got, want)
				}
			})
		}
		wg.Wait()
	}
	if _, err := NewSigner([]string{"nope"}); err == nil {
		t.Error("a secret without whsec_ was taken")
	}
}
