package registry

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/distribution/distribution/v3/configuration"
	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// defaultCipherSuites are distribution's defaults for TLS 1.2.
func defaultCipherSuites() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_AES_128_GCM_SHA256,
		tls.TLS_CHACHA20_POLY1305_SHA256,
		tls.TLS_AES_256_GCM_SHA384,
	}
}

func tlsVersion(name string) (uint16, bool) {
	switch name {
	case "tls1.2":
		return tls.VersionTLS12, true
	case "tls1.3":
		return tls.VersionTLS13, true
	}
	return 0, false
}

func clientAuthMode(mode configuration.ClientAuth) (tls.ClientAuthType, bool) {
	switch mode {
	case configuration.ClientAuthRequestClientCert:
		return tls.RequestClientCert, true
	case configuration.ClientAuthRequireAnyClientCert:
		return tls.RequireAnyClientCert, true
	case configuration.ClientAuthVerifyClientCertIfGiven:
		return tls.VerifyClientCertIfGiven, true
	case configuration.ClientAuthRequireAndVerifyClientCert:
		return tls.RequireAndVerifyClientCert, true
	}
	return tls.NoClientCert, false
}

// tlsConfig builds the server's TLS configuration from http.tls, with
// distribution's rules: TLS 1.2 at least unless minimumtls says tls1.3,
// cipher suites by Go name, client CAs requiring and verifying client
// certificates unless clientauth says otherwise, and Let's Encrypt through
// autocert. It returns nil when http.tls names neither a certificate nor a
// Let's Encrypt cache.
func tlsConfig(h configuration.HTTP) (*tls.Config, error) {
	t := h.TLS
	if t.Certificate == "" && t.LetsEncrypt.CacheFile == "" {
		return nil, nil
	}
	minName := t.MinimumTLS
	if minName == "" {
		minName = "tls1.2"
	}
	minVersion, ok := tlsVersion(minName)
	if !ok {
		return nil, fmt.Errorf("unknown minimum TLS level '%s' specified for http.tls.minimumtls", minName)
	}
	conf := &tls.Config{
		ClientAuth: tls.NoClientCert,
		NextProtos: []string{"h2", "http/1.1"},
		MinVersion: minVersion,
	}
	if h.HTTP2.Disabled {
		conf.NextProtos = []string{"http/1.1"}
	}
	// Cipher suites cannot be chosen for TLS 1.3.
	if minVersion == tls.VersionTLS12 {
		suites, err := cipherSuites(t.CipherSuites)
		if err != nil {
			return nil, err
		}
		conf.CipherSuites = suites
	}

	if t.LetsEncrypt.CacheFile != "" {
		if t.Certificate != "" {
			return nil, errors.New("cannot specify both certificate and Let's Encrypt")
		}
		m := &autocert.Manager{
			HostPolicy: autocert.HostWhitelist(t.LetsEncrypt.Hosts...),
			Cache:      autocert.DirCache(t.LetsEncrypt.CacheFile),
			Email:      t.LetsEncrypt.Email,
			Prompt:     autocert.AcceptTOS,
		}
		if t.LetsEncrypt.DirectoryURL != "" {
			m.Client = &acme.Client{DirectoryURL: t.LetsEncrypt.DirectoryURL}
		}
		conf.GetCertificate = m.GetCertificate
		conf.NextProtos = append(conf.NextProtos, acme.ALPNProto)
	} else {
		cert, err := tls.LoadX509KeyPair(t.Certificate, t.Key)
		if err != nil {
			return nil, fmt.Errorf("loading http.tls certificate: %w", err)
		}
		conf.Certificates = []tls.Certificate{cert}
	}

	if len(t.ClientCAs) > 0 {
		pool := x509.NewCertPool()
		for _, ca := range t.ClientCAs {
			pem, err := os.ReadFile(ca)
			if err != nil {
				return nil, fmt.Errorf("reading http.tls client CA: %w", err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("could not add CA %s to pool", ca)
			}
		}
		conf.ClientCAs = pool
		conf.ClientAuth = tls.RequireAndVerifyClientCert
		if t.ClientAuth != "" {
			mode, ok := clientAuthMode(t.ClientAuth)
			if !ok {
				return nil, fmt.Errorf("unknown client auth mod '%s' specified for http.tls.clientauth", t.ClientAuth)
			}
			conf.ClientAuth = mode
		}
	}
	return conf, nil
}

func cipherSuites(names []string) ([]uint16, error) {
	if len(names) == 0 {
		return defaultCipherSuites(), nil
	}
	byName := map[string]uint16{}
	for _, s := range tls.CipherSuites() {
		byName[s.Name] = s.ID
	}
	for _, s := range tls.InsecureCipherSuites() {
		byName[s.Name] = s.ID
	}
	ids := make([]uint16, 0, len(names))
	for _, name := range names {
		id, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("unknown TLS cipher suite '%s' specified for http.tls.cipherSuites", name)
		}
		ids = append(ids, id)
	}
	return ids, nil
}
