package stac

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// PlanetaryComputerSAS is the token service of Microsoft's Planetary
// Computer, whose assets are Azure blobs readable only with a SAS token.
const PlanetaryComputerSAS = "https://planetarycomputer.microsoft.com/api/sas/v1/token"

// SASSigner signs Azure blob URLs with SAS tokens from a token service
// (Planetary Computer's: GET SERVICE/ACCOUNT/CONTAINER answers
// {"token": "st=…&se=…&sig=…", "msft:expiry": "…"}), one token per
// container, reused until shortly before it expires. The token is a
// credential: Downloader and Acquire record the unsigned href.
type SASSigner struct {
	Client  *Client
	Service string // default PlanetaryComputerSAS

	mu     sync.Mutex
	tokens map[string]sasToken
}

type sasToken struct {
	token  string
	expiry time.Time
}

// Sign implements AcquireOptions.Sign: href with a SAS token for its
// container appended. A URL that is not an Azure blob is returned as it is.
func (s *SASSigner) Sign(ctx context.Context, href string) (string, error) {
	u, err := url.Parse(href)
	if err != nil {
		return "", err
	}
	account, ok := strings.CutSuffix(u.Hostname(), ".blob.core.windows.net")
	container, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if !ok || account == "" || container == "" {
		return href, nil
	}
	if u.Scheme != "https" {
		return "", fmt.Errorf("%s: a SAS token is not sent over %s", Unsigned(href), u.Scheme)
	}
	key := account + "/" + container
	s.mu.Lock()
	t, ok := s.tokens[key]
	s.mu.Unlock()
	if !ok || time.Until(t.expiry) < 5*time.Minute {
		service := s.Service
		if service == "" {
			service = PlanetaryComputerSAS
		}
		r, err := s.Client.do(ctx, http.MethodGet, strings.TrimSuffix(service, "/")+"/"+key, nil)
		if err != nil {
			return "", fmt.Errorf("SAS token for %s: %w", key, err)
		}
		var v struct {
			Token  string    `json:"token"`
			Expiry time.Time `json:"msft:expiry"`
		}
		if err := json.Unmarshal(r.Body, &v); err != nil || v.Token == "" {
			return "", fmt.Errorf("SAS token for %s: the service answered no token", key)
		}
		if v.Expiry.IsZero() {
			v.Expiry = time.Now().Add(30 * time.Minute)
		}
		t = sasToken{token: strings.TrimPrefix(v.Token, "?"), expiry: v.Expiry}
		s.mu.Lock()
		if s.tokens == nil {
			s.tokens = map[string]sasToken{}
		}
		s.tokens[key] = t
		s.mu.Unlock()
	}
	sep := "?"
	if u.RawQuery != "" {
		sep = "&"
	}
	return href + sep + t.token, nil
}
