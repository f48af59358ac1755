#!/usr/bin/env python3
# Side experiment behind the model card's "Known limits": how much photosystem identity
# (PSI vs PSII) the simulated frames carry, measured without the network.
#
# Feature: the frame's autocorrelation (after a 9x9 high-pass) at each lag, max over directions,
# re-expressed as the cell length a = D·λ/(lag·pixel) a lattice row of that spacing would have
# (distance, wavelength and pixel size from the simulator sidecar, as a detector header gives
# them). A logistic regression on the 48-point profile; test ROC-AUC on the last 20 % of the
# frames that hold exactly one photosystem.
#
#   difftriage simulate --out s1024 --count 5000 --mix balanced --seed 4242 \
#       --output-size 1024 --full-size 1024          # unbinned
#   difftriage simulate --out s512  --count 5000 --mix balanced --seed 4242   # 2x max binning
#   /usr/bin/python3 scripts/experiments/photosystem_acf.py s1024
#   /usr/bin/python3 scripts/experiments/photosystem_acf.py s512
#
# Needs NumPy, PyTorch (for the regression) and Pillow: Debian's python3-numpy, python3-torch,
# python3-pil.
import json, glob, os, sys
import numpy as np, torch
from PIL import Image
folder = sys.argv[1]
grid = np.exp(np.linspace(np.log(70), np.log(450), 48))  # cell lengths, Å
F, Y = [], []
for js in sorted(glob.glob(os.path.join(folder, 'fake_*.json'))):
    j = json.load(open(js)); l = j['labels']
    if l['blank'] or (l['photo1'] + l['photo2']) != 1: continue
    img = np.asarray(Image.open(js[:-5] + '.pgm'), dtype=np.float64)
    g = j['geometry']; b = g['bin_factor']; n = img.shape[0]
    # high-pass: minus a 9x9 box mean (via FFT), keep the positive residual (spots)
    k = np.zeros_like(img); k[:9, :9] = 1 / 81.0; k = np.roll(k, (-4, -4), (0, 1))
    hp = img - np.real(np.fft.ifft2(np.fft.fft2(img) * np.fft.fft2(k)))
    hp = np.clip(hp, 0, None); hp -= hp.mean()
    acf = np.real(np.fft.ifft2(np.abs(np.fft.fft2(hp)) ** 2)); acf /= acf[0, 0] + 1e-12
    acf = np.fft.fftshift(acf); c = n // 2
    yy, xx = np.mgrid[-c:n - c, -c:n - c]; r = np.hypot(yy, xx)
    pix = g['pixel_size_mm'] * b
    lag_of_a = g['distance_mm'] * g['wavelength_angstrom'] / (grid * pix)  # px
    prof = []
    for lag in lag_of_a:
        ring = (np.abs(r - lag) < 0.5)
        prof.append(acf[ring].max() if lag >= 1.5 and ring.any() else 0.0)
    F.append(prof); Y.append(l['photo1'])
F = np.array(F, dtype=np.float32); Y = np.array(Y, dtype=np.float32)
n = len(Y); ntr = int(0.8 * n)
mu, sd = F[:ntr].mean(0), F[:ntr].std(0) + 1e-6
X = torch.tensor((F - mu) / sd); T = torch.tensor(Y)
w = torch.zeros(X.shape[1], requires_grad=True); b0 = torch.zeros(1, requires_grad=True)
opt = torch.optim.LBFGS([w, b0], max_iter=200)
def closure():
    opt.zero_grad()
    loss = torch.nn.functional.binary_cross_entropy_with_logits(X[:ntr] @ w + b0, T[:ntr]) + 1e-2 * (w ** 2).sum()
    loss.backward(); return loss
opt.step(closure)
s = (X[ntr:] @ w + b0).detach().numpy(); y = Y[ntr:]
o = np.argsort(s); rk = np.empty(len(s)); rk[o] = np.arange(1, len(s) + 1); p = y.sum()
print(folder, 'frames', n, 'test AUC %.3f' % ((rk[y == 1].sum() - p * (p + 1) / 2) / (p * (len(y) - p))))
m1 = F[Y == 1].mean(0); m2 = F[Y == 0].mean(0)
for a, u, v in list(zip(grid, m1, m2))[::4]: print('  a %.0f A: PSI %.4f PSII %.4f' % (a, u, v))
