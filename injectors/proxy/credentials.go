package proxy

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode"
)

// Where the API token comes from, on both sides: `chaos proxy` requires it, and the
// experiments' remote proxies and `chaos recover` send it. Never a flag value or a
// YAML value: a flag shows in ps, a YAML file is shared and reported.
const (
	// EnvTokenFile names a file whose first line is the token.
	EnvTokenFile = "FAULTLINE_PROXY_TOKEN_FILE"
	// EnvToken holds the token itself.
	EnvToken = "FAULTLINE_PROXY_TOKEN"
	// EnvCAFile names a PEM file of CA certificates the remote client trusts (in
	// addition to the system's) for an https:// API.
	EnvCAFile = "FAULTLINE_PROXY_CA_FILE"
	// DefaultUser is the user name of the API's HTTP Basic credentials.
	DefaultUser = "faultline"
	// MinTokenLen is the shortest token `chaos proxy` accepts.
	MinTokenLen  = 16
	maxTokenFile = 4 << 10
)

// ErrUnauthorized is what the remote client returns when the API answers 401.
var ErrUnauthorized = errors.New("proxy: unauthorized")

// Credentials are the HTTP Basic credentials of a protected API: user DefaultUser
// and a token as the password. Source says where the token came from (for messages;
// it never contains the token); File is the token file, if it came from one.
// String never shows the token.
type Credentials struct {
	User   string
	Token  string
	Source string
	File   string
}

func (c *Credentials) String() string {
	if c == nil {
		return "no credentials"
	}
	return fmt.Sprintf("user %s, token from %s", c.User, c.Source)
}

// ReadTokenFile reads a token file: a regular file of at most 4 KiB whose first line
// (surrounding white space removed) is the token.
func ReadTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("reading token file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("reading token file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("token file %s: not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", fmt.Errorf("reading token file %s: %w", path, err)
	}
	if len(b) > maxTokenFile {
		return "", fmt.Errorf("token file %s: larger than %d bytes", path, maxTokenFile)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	tok := strings.TrimSpace(line)
	if tok == "" {
		return "", fmt.Errorf("token file %s: empty", path)
	}
	return tok, nil
}

// LoadCredentials returns the credentials from tokenFile if it is not empty, else
// from $FAULTLINE_PROXY_TOKEN_FILE or $FAULTLINE_PROXY_TOKEN (setting both is an
// error). It returns nil, nil when none is set.
func LoadCredentials(tokenFile string) (*Credentials, error) {
	envFile, envTok := os.Getenv(EnvTokenFile), os.Getenv(EnvToken)
	switch {
	case tokenFile != "":
		tok, err := ReadTokenFile(tokenFile)
		if err != nil {
			return nil, err
		}
		return &Credentials{User: DefaultUser, Token: tok, Source: tokenFile, File: tokenFile}, nil
	case envFile != "" && envTok != "":
		return nil, fmt.Errorf("both $%s and $%s are set: set only one", EnvTokenFile, EnvToken)
	case envFile != "":
		tok, err := ReadTokenFile(envFile)
		if err != nil {
			return nil, fmt.Errorf("$%s: %w", EnvTokenFile, err)
		}
		return &Credentials{User: DefaultUser, Token: tok, Source: "$" + EnvTokenFile + " (" + envFile + ")", File: envFile}, nil
	case envTok != "":
		tok := strings.TrimSpace(envTok)
		if tok == "" {
			return nil, fmt.Errorf("$%s is blank", EnvToken)
		}
		return &Credentials{User: DefaultUser, Token: tok, Source: "$" + EnvToken}, nil
	}
	return nil, nil
}

// CheckServerToken says why a token is too weak to protect the API, or nil.
func CheckServerToken(tok string) error {
	if len(tok) < MinTokenLen {
		return fmt.Errorf("the token must be at least %d characters (e.g. `openssl rand -hex 24`)", MinTokenLen)
	}
	for _, r := range tok {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return errors.New("the token must be printable ASCII without spaces")
		}
	}
	return nil
}
