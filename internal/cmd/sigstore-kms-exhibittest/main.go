// Command sigstore-kms-exhibittest is a sigstore KMS plugin for tests: it
// stands in for a hardware or cloud KMS so that the KMS code path (key
// references like exhibittest:///path/key.pem, resolved by sigstore's plugin
// mechanism) runs for real. The "KMS" is an unencrypted PEM file named by
// the key reference; never use it for evidence.
package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"strings"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms/cliplugin/handler"
)

const scheme = "exhibittest://"

type fileKMS struct {
	path string
	sv   signature.SignerVerifier
}

func (k *fileKMS) load() error {
	if k.sv != nil {
		return nil
	}
	data, err := os.ReadFile(k.path)
	if err != nil {
		return err
	}
	priv, err := cryptoutils.UnmarshalPEMToPrivateKey(data, nil)
	if err != nil {
		return err
	}
	k.sv, err = signature.LoadSignerVerifier(priv, crypto.SHA256)
	return err
}

func (k *fileKMS) PublicKey(opts ...signature.PublicKeyOption) (crypto.PublicKey, error) {
	if err := k.load(); err != nil {
		return nil, err
	}
	return k.sv.PublicKey(opts...)
}

func (k *fileKMS) SignMessage(message io.Reader, opts ...signature.SignOption) ([]byte, error) {
	if err := k.load(); err != nil {
		return nil, err
	}
	return k.sv.SignMessage(message, opts...)
}

func (k *fileKMS) VerifySignature(sig, message io.Reader, opts ...signature.VerifyOption) error {
	if err := k.load(); err != nil {
		return err
	}
	return k.sv.VerifySignature(sig, message, opts...)
}

func (k *fileKMS) CreateKey(_ context.Context, _ string) (crypto.PublicKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	data, err := cryptoutils.MarshalPrivateKeyToPEM(priv)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(k.path, data, 0o600); err != nil {
		return nil, err
	}
	return priv.Public(), nil
}

func (k *fileKMS) CryptoSigner(context.Context, func(error)) (crypto.Signer, crypto.SignerOpts, error) {
	return nil, nil, errors.New("not supported")
}
func (k *fileKMS) SupportedAlgorithms() []string { return []string{"ecdsa-p256-sha256"} }
func (k *fileKMS) DefaultAlgorithm() string      { return "ecdsa-p256-sha256" }

func main() {
	args, err := handler.GetPluginArgs(os.Args)
	if err != nil {
		handler.WriteErrorResponse(os.Stdout, err)
		return
	}
	// sigstore passes the reference with or without its scheme.
	path := strings.TrimPrefix(args.InitOptions.KeyResourceID, scheme)
	if path == "" {
		handler.WriteErrorResponse(os.Stdout, errors.New("empty key reference"))
		return
	}
	handler.Dispatch(os.Stdout, os.Stdin, args, &fileKMS{path: path})
}
