"""A weight-free interactive segmentation engine: superpixel graph cut + pixel band cut.

Method (measured with ``bench/noc.py``, see ``docs/benchmarks-noc.md``):

* :meth:`ClassicalEngine.prepare` (``classical_state``) over-segments the image into
  SLIC superpixels and precomputes what every prediction needs: per-superpixel colour
  histograms (quantised CIELAB), mean colour and centroid, and the region adjacency graph
  with the length and mean image-gradient contrast of each shared boundary.
* :meth:`ClassicalEngine.predict` turns the prompts into hard superpixel seeds (clicks,
  scribbles, outside of the box; ``classical_seeds``), measures geodesic distances from
  the positive seeds and from the negative seeds (the image border counting as a weak
  negative seed) over the adjacency graph, learns foreground / background colour
  histograms from the seeds' geodesic neighbourhoods and the previous mask, asks the
  same colour question per neighbourhood (``classical_colour``: a colour can be the
  object's here and the background's elsewhere), and solves a binary graph cut on the
  superpixel graph (``classical_graph``: scipy max-flow) whose unary terms combine the
  colour likelihood ratio, the geodesic evidence and the previous mask (trusted less
  near the newest click, so a click re-decides its neighbourhood and leaves the rest of
  the last result alone). Foreground not connected to a positive seed is dropped. A
  positive click far from the previous mask whose seed disk overshoots the missed part
  (a thin part, such as a leg, seen from afar) is cut without the disk, and a positive
  click whose result adds far more than its error region can hold (a flood through a
  weak boundary) is cut again with less geodesic evidence.
* Superpixels straddle object edges by a few pixels, so a second, pixel-level graph cut
  (``classical_refine``) re-decides a narrow band around the result's boundary with a
  contrast-sensitive pairwise term; clicks and scribbles are hard pixel constraints.
  Its colour evidence is the global bins' and a local one: each band pixel is compared
  with the nearest pixels, in position and colour, of the rings just inside and just
  outside the band.
* The score is an IoU estimate from the evidence along the cut (``classical_score``).
* With the project model's probability map (``Prompts.prior``, issue 17), its log-odds
  per superpixel are one more unary term, its soft mask teaches the colour models (the
  first click then knows the object's colours beyond the clicked patch), and its
  per-pixel log-odds join the pixel band's unary. Everything it adds is weighted by
  how decided the map is and how well it agrees with the clicks
  (``classical_seeds.model_prior``): a flat or contradicted map changes little. Once
  there is a previous mask, which already holds the map's say, the map's term is
  weakened away from the newest click so that it does not undo earlier corrections.
  Without a prior the result is exactly that of the engine without this feature
  (``bench/noc_model.py``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, fields

import cv2
import numpy as np
import scipy.sparse as sp

from .base import Click, Prediction, Prompts
from .classical_colour import cached_nbytes, colour_llr_bins, local_colour_llr, neighbourhoods
from .classical_graph import geodesic_distance, keep_connected, keep_connected_pixels, min_cut
from .classical_refine import refine_band
from .classical_score import confidence
from .classical_seeds import ModelPrior, Seeds, check_prompts, model_prior, scale_prompts
from .classical_state import NBINS, ClassicalState, compute_state

__all__ = ["ClassicalEngine", "ClassicalState"]


class ClassicalEngine:
    """Superpixel graph-cut engine (see the module docstring).

    Options (defaults tuned with ``bench/noc.py``): ``n_segments`` SLIC superpixels per
    image (about; fewer on small images), ``compactness`` SLIC compactness;
    superpixel cut: ``smoothness`` (pairwise weight per boundary pixel),
    ``colour_weight``, ``geodesic_weight``, ``prior_weight`` (trust in the previous mask
    away from the newest click), ``border_offset`` (starting geodesic distance of the
    image border as a weak background seed), ``colour_reach`` (geodesic scale of the
    seeds' colour neighbourhoods), ``local_reach`` (geodesic scale of the region freed
    around the newest click); pixel band: ``band`` (half width, pixels),
    ``pixel_smoothness``, ``pixel_colour_weight``, ``pixel_evidence_weight``;
    ``click_radius`` (pixels held fixed around each click); ``seed_scale`` (the newest
    click also fixes a disk of this times its distance to the previous boundary),
    ``trust_floor`` (share of the previous-mask prior kept next to the newest click);
    ``max_megapixels``: larger images are segmented at a working resolution of this
    size and the mask scaled back (bilinear, so edges stay smooth). The default, 0.41,
    is DAVIS's 854x480, the size every pixel-valued option was tuned at: a larger working
    resolution made NoC worse (``docs/benchmarks-noc.md``, v6), and SAM's own masks come
    from 256x256 logits. ``local_colour``
    (share of the local colour model in the colour term, 0 turns it off),
    ``local_sigma`` (its spatial scale, pixels), ``local_tau`` (its colour scale,
    CIELAB units on OpenCV's 8-bit scale); ``first_click_spread``: with positive
    clicks alone (no previous mask, box or scribble: a session's first click), the
    foreground colour model also learns from a Gaussian of this times the image's long
    side around the clicks, not only from the colour-connected region of the clicked
    superpixel (0 turns it off); ``negative_seed_scale`` and ``negative_trust_floor``:
    ``seed_scale`` and ``trust_floor`` when the newest click is negative. A negative
    click rarely breaks correct pixels, so its disk reaches the previous boundary (1.0)
    and more of the previous mask stays trusted around it (0.5): the larger disk does
    the work and the freed area does not spill. ``flood_ratio``: a positive click
    outside the previous mask that adds more than this times the square of its distance
    to that mask is taken for a flood (see :meth:`_predict`) and cut again with less
    geodesic evidence (0 turns the check off). ``overshoot_ratio``,
    ``overshoot_distance``, ``overshoot_after``: a positive click at least
    ``overshoot_distance`` pixels outside the previous mask, from click
    ``overshoot_after + 1`` of a session on, is also cut without its seed disk, and that
    cut is kept when the one with the disk adds more than ``overshoot_ratio`` times as
    many pixels (see :meth:`_predict`; 0 turns the check off).
    ``negative_growth_ratio``: a negative click whose result adds more than this times
    the square of its distance to the previous mask's boundary keeps none of the
    additions (0 turns the check off). ``band_colour``: weight of the pixel band's
    local colour model (``classical_refine.band_colour_llr``; 0 turns it off),
    ``band_colour_scale``: how many pixels of distance weigh as much as one CIELAB
    unit in it. The project model's prior (``Prompts.prior``; inert without one):
    ``model_weight`` (weight of its clipped log-odds in the superpixel unary, times its
    trust), ``model_colour`` (> 0: the colour models also learn from it),
    ``model_pixel_weight`` (weight of its per-pixel log-odds in the pixel band),
    ``model_geodesic`` (share of the geodesic weight a fully trusted prior takes
    away), ``model_far`` (share of its superpixel term kept away from the newest click
    once there is a previous mask), ``model_agree`` (mean agreement of the map with
    the clicks that earns full trust), ``model_distrust`` (> 0: a blob of the map that
    holds only negative clicks loses its say; see ``classical_seeds.model_prior``).
    """

    name = "classical"
    #: Bump whenever the algorithm or a default changes (cached states are keyed on it).
    model_id = "classical-v14"

    def __init__(
        self,
        n_segments: int = 4500,
        compactness: float = 10.0,
        smoothness: float = 20.0,
        colour_weight: float = 1.25,
        geodesic_weight: float = 2.0,
        prior_weight: float = 1.0,
        border_offset: float = 8.0,
        band: float = 8.0,
        pixel_smoothness: float = 8.0,
        pixel_colour_weight: float = 0.5,
        colour_reach: float = 1.5,
        local_reach: float = 4.0,
        pixel_evidence_weight: float = 0.2,
        click_radius: float = 3.0,
        seed_scale: float = 0.5,
        trust_floor: float = 0.3,
        max_megapixels: float = 0.41,
        local_colour: float = 0.5,
        local_sigma: float = 60.0,
        local_tau: float = 4.0,
        first_click_spread: float = 0.04,
        negative_seed_scale: float = 1.0,
        negative_trust_floor: float = 0.5,
        flood_ratio: float = 20.0,
        overshoot_ratio: float = 1.5,
        overshoot_distance: float = 20.0,
        overshoot_after: int = 2,
        negative_growth_ratio: float = 20.0,
        band_colour: float = 0.5,
        band_colour_scale: float = 6.0,
        model_weight: float = 2.0,
        model_colour: float = 1.0,
        model_pixel_weight: float = 0.5,
        model_geodesic: float = 0.0,
        model_far: float = 1.0,
        model_agree: float = 0.8,
        model_distrust: float = 1.0,
    ) -> None:
        self.n_segments = int(n_segments)
        self.compactness = float(compactness)
        self.smoothness = float(smoothness)
        self.colour_weight = float(colour_weight)
        self.geodesic_weight = float(geodesic_weight)
        self.prior_weight = float(prior_weight)
        self.border_offset = float(border_offset)
        self.band = float(band)
        self.pixel_smoothness = float(pixel_smoothness)
        self.pixel_colour_weight = float(pixel_colour_weight)
        self.colour_reach = float(colour_reach)
        self.local_reach = float(local_reach)
        self.pixel_evidence_weight = float(pixel_evidence_weight)
        self.click_radius = float(click_radius)
        self.seed_scale = float(seed_scale)
        self.trust_floor = float(trust_floor)
        self.max_megapixels = float(max_megapixels)
        self.local_colour = float(local_colour)
        self.local_sigma = float(local_sigma)
        self.local_tau = float(local_tau)
        self.first_click_spread = float(first_click_spread)
        self.negative_seed_scale = float(negative_seed_scale)
        self.negative_trust_floor = float(negative_trust_floor)
        self.flood_ratio = float(flood_ratio)
        self.overshoot_ratio = float(overshoot_ratio)
        self.overshoot_distance = float(overshoot_distance)
        self.overshoot_after = int(overshoot_after)
        self.negative_growth_ratio = float(negative_growth_ratio)
        self.band_colour = float(band_colour)
        self.band_colour_scale = float(band_colour_scale)
        self.model_weight = float(model_weight)
        self.model_colour = float(model_colour)
        self.model_pixel_weight = float(model_pixel_weight)
        self.model_geodesic = float(model_geodesic)
        self.model_far = float(model_far)
        self.model_agree = float(model_agree)
        self.model_distrust = float(model_distrust)

    # ------------------------------------------------------------------ prepare
    def prepare(self, image: np.ndarray) -> ClassicalState:
        """``image``: ``(H, W, 3) uint8`` RGB. About 0.5-1 s at 854x480 on one core
        (SLIC dominates); the result is what the caller caches. Images larger than
        ``max_megapixels`` (default: about 854x480) are prepared at a working resolution
        of that size."""
        state = compute_state(
            image, self.n_segments, self.compactness, max_pixels=self.max_megapixels * 1e6
        )
        self._warm(state)
        return state

    # ------------------------------------------------------------ serialisation
    def state_to_bytes(self, state: ClassicalState) -> bytes:
        buf = io.BytesIO()
        np.savez_compressed(buf, **{f.name: getattr(state, f.name) for f in fields(state)})
        return buf.getvalue()

    def state_from_bytes(self, data: bytes) -> ClassicalState:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            state = ClassicalState(**{f.name: npz[f.name] for f in fields(ClassicalState)})
        self._warm(state)
        return state

    def _warm(self, state: ClassicalState) -> None:
        """Compute the local colour model's neighbourhoods (~0.1 s at 4500
        superpixels). They are derived data, kept on the state object but not
        serialised, so a state loaded from storage gets them here."""
        if self.local_colour > 0:
            neighbourhoods(state, self.local_sigma, self.local_tau)

    def state_nbytes(self, state: ClassicalState) -> int:
        own = sum(getattr(state, f.name).nbytes for f in fields(state))
        return int(own + cached_nbytes(state))

    # ------------------------------------------------------------------ predict
    def predict(self, state: ClassicalState, prompts: Prompts) -> Prediction:
        """Segment the object described by ``prompts`` (image coordinates); returns an
        ``(H, W) bool`` mask of the image given to :meth:`prepare`."""
        if not isinstance(state, ClassicalState):
            raise TypeError("state must come from ClassicalEngine.prepare")
        if state.image_shape == state.shape:
            return self._predict(state, prompts)
        # A large image, prepared at a working resolution: prompts down, mask up.
        check_prompts(prompts, state.image_shape)
        out = self._predict(state, scale_prompts(prompts, state.image_shape, state.shape))
        height, width = state.image_shape
        soft = cv2.resize(
            out.mask.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR
        )
        return Prediction(mask=soft >= 0.5, score=out.score, low_res_logits=None)

    def _predict(self, state: ClassicalState, prompts: Prompts) -> Prediction:
        """:meth:`predict` at the state's working resolution.

        Flood check: a positive click in a missed part of the object grows from its seed
        along geodesically near superpixels, and on a low-contrast boundary that growth
        runs on into the background (a horse's leg into the sand, a swan's neck into
        the bank). The simulator's click sits about as far from the previous mask as the
        missed part is wide, so a correction adds an area of the order of that distance
        squared; on the 38 tuning frames (``bench/click_trace.py``) clicks that added
        more than 20 times it broke more than they fixed in 39 cases out of 48. Such a
        result is cut again with the geodesic evidence halved, then quartered, then off,
        stopping at the first that stays under the limit (``docs/benchmarks-noc.md``,
        v9).

        Overshoot check (before the flood check): the seed disk's radius, half the
        click's distance r to the previous mask, assumes the missed part is about r
        wide. A thin part that joins the object far away (a leg, a hoof, a line) has the
        click r from the mask but only a few pixels from the part's edge, and the disk
        then seeds the background around it. On the 38 tuning frames, positive clicks at
        IoU 0.6 or more, 25 px or more from the previous mask, lowered the IoU in the
        mean, and their missed part was 2.5-4 times narrower than r (median). Such a
        click is also cut without the disk; when the cut with the disk adds more than
        ``overshoot_ratio`` times the pixels of the one without, the disk, not the
        image, made the difference, and the cut without it is kept (v10). The first two
        clicks keep their disk: the first mask is a rough guess, and the second click's
        missed part is mostly a large part of the object.

        A negative click removes; the cut may still add pixels elsewhere, where the
        click shifted the colour models and the geodesic evidence of an older positive
        click outweighs the previous mask (blackswan/00030: a click on the water by the
        tail added 12,000 px of wall by the head). When its additions exceed
        ``negative_growth_ratio`` times the square of its distance to the previous
        boundary, none of them is kept."""
        # A negative click seeds a larger disk of its error region and frees less of
        # the previous mask around it than a positive one (see the class docstring).
        negative = bool(prompts.clicks) and not prompts.clicks[-1].positive
        seed_scale = self.negative_seed_scale if negative else self.seed_scale
        seeds = Seeds.from_prompts(prompts, state, int(self.click_radius), seed_scale)
        terms = self._terms(state, prompts, seeds)
        out = self._cut(state, prompts, seeds, terms, self.geodesic_weight)
        if negative:
            return self._without_growth(prompts, seeds, out)
        limit = self._flood_limit(prompts, seeds)
        if limit is None:
            return out
        prev = np.asarray(prompts.mask, dtype=bool)
        if self._check_overshoot(prompts, seeds):
            bare = Seeds.from_prompts(prompts, state, int(self.click_radius), 0.0)
            bare_terms = self._terms(state, prompts, bare)
            bare_out = self._cut(state, prompts, bare, bare_terms, self.geodesic_weight)
            added, bare_added = int((out.mask & ~prev).sum()), int((bare_out.mask & ~prev).sum())
            if added > self.overshoot_ratio * bare_added:
                seeds, terms, out = bare, bare_terms, bare_out
        for scale in (0.5, 0.25, 0.0):
            if int((out.mask & ~prev).sum()) <= limit:
                break
            out = self._cut(state, prompts, seeds, terms, scale * self.geodesic_weight)
        return out

    def _flood_limit(self, prompts: Prompts, seeds: Seeds) -> float | None:
        """Most pixels the newest click may add to the previous mask before it counts as
        a flood; ``None`` when the check does not apply (off, no previous mask, or the
        newest click is not a positive one outside it)."""
        newest, prev_dist = seeds.newest, seeds.prev_dist
        if self.flood_ratio <= 0 or prompts.mask is None or newest is None or prev_dist is None:
            return None
        if not newest.positive or np.asarray(prompts.mask)[int(newest.y), int(newest.x)]:
            return None
        return self.flood_ratio * max(prev_dist, 1.0) ** 2

    def _without_growth(self, prompts: Prompts, seeds: Seeds, out: Prediction) -> Prediction:
        """``out`` for a negative newest click, without its additions to the previous
        mask when they are too many to be a boundary's re-decision (see
        :meth:`_predict`)."""
        if self.negative_growth_ratio <= 0 or prompts.mask is None or seeds.prev_dist is None:
            return out
        prev = np.asarray(prompts.mask, dtype=bool)
        limit = self.negative_growth_ratio * max(seeds.prev_dist, 1.0) ** 2
        if int((out.mask & ~prev).sum()) <= limit:
            return out
        return Prediction(mask=out.mask & prev, score=out.score, low_res_logits=None)

    def _pixel_prior(self, model: ModelPrior | None) -> np.ndarray | None:
        """``(h, w)`` per-pixel unary of the project model's map for the pixel band
        (``None`` without one): its log-odds, weighted by the map's trust."""
        if model is None or self.model_pixel_weight <= 0:
            return None
        p = np.clip(model.pixel, 0.02, 0.98)
        return self.model_pixel_weight * model.weight * np.clip(np.log(p / (1.0 - p)), -3, 3)

    def _check_overshoot(self, prompts: Prompts, seeds: Seeds) -> bool:
        """Whether the newest (positive, outside the previous mask: the caller checks)
        click's seed disk is checked for overshooting (see :meth:`_predict`)."""
        return (
            self.overshoot_ratio > 0
            and len(prompts.clicks) > self.overshoot_after
            and seeds.prev_dist is not None
            and seeds.prev_dist >= self.overshoot_distance
        )

    def _terms(self, state: ClassicalState, prompts: Prompts, seeds: Seeds) -> _Terms:
        """The superpixel cut's terms that do not depend on the geodesic weight:
        geodesic and colour evidence, the previous-mask prior, the pairwise weights."""
        negative = bool(prompts.clicks) and not prompts.clicks[-1].positive
        trust_floor = self.negative_trust_floor if negative else self.trust_floor
        h, w = state.shape
        n = state.n
        size = state.sp_size.astype(np.float64)

        # ---- geodesic distances over the adjacency graph. The image border stands in
        # as a weak negative seed (objects rarely fill the frame), so one click can
        # grow to the edges that separate it from the border.
        graph = _geodesic_graph(state)
        model = model_prior(prompts, state, self.model_agree, self.model_distrust > 0)
        if model is not None and model.weight <= 0:
            model = None
        d_pos = geodesic_distance(graph, {int(i): 0.0 for i in np.flatnonzero(seeds.hard_fg)})
        neg_sources = {int(i): self.border_offset for i in state_border(state)}
        if seeds.outside_box is not None:
            neg_sources = {}
        neg_sources.update({int(i): 0.0 for i in np.flatnonzero(seeds.hard_bg)})
        d_neg = geodesic_distance(graph, neg_sources)
        geo = _geodesic_evidence(d_pos, d_neg, n)

        # ---- colour model: a mixture of what the seeds' geodesic neighbourhoods look
        # like and of the previous mask / its complement. Normalising each part keeps
        # a handful of clicked superpixels from drowning in the previous mask's area
        # (otherwise an object part the last mask missed is learned as background).
        hist = state.hist()
        fg_parts = [np.exp(-d_pos / self.colour_reach) if d_pos is not None else None]
        bg_parts = [np.exp(-d_neg / self.colour_reach) if d_neg is not None else None]
        if seeds.prev is not None:
            fg_parts.append(seeds.prev * size)
            bg_parts.append((1.0 - seeds.prev) * size)
        if d_neg is None and seeds.prev is None:
            bg_parts.append(size)  # nothing known about the background: the image
        if self.first_click_spread > 0 and _only_positive_clicks(prompts):
            # A first click lands inside the object, often on one patch of a
            # multi-coloured one (a cow's brown spot): its surroundings, object-sized
            # rather than patch-sized, are the better guess at the object's colours.
            fg_parts.append(
                _near_clicks(state, prompts.clicks, self.first_click_spread * max(h, w)) * size
            )
        if model is not None and self.model_colour > 0:
            # The project model's map is a guess at the whole object: its colours.
            fg_parts.append(model.mean * size)
            bg_parts.append((1.0 - model.mean) * size)
        box_only = d_pos is None and seeds.outside_box is not None and seeds.prev is None
        if box_only and seeds.outside_box is not None:
            fg_parts.append(np.where(seeds.outside_box, 0.0, size))  # inside the box
        if d_pos is None and seeds.prev is None and seeds.outside_box is None:
            llr_bins = np.zeros(NBINS)
        else:
            llr_bins = colour_llr_bins(hist, fg_parts, bg_parts)
        counts = np.asarray(hist.sum(axis=1)).ravel()
        colour = np.asarray(hist @ llr_bins).ravel() / np.maximum(counts, 1.0)
        if self.local_colour > 0 and (seeds.prev is not None or d_pos is not None):
            # The same question asked per neighbourhood (classical_colour): a colour
            # that is foreground here may be background across the image.
            member = seeds.prev if seeds.prev is not None else np.zeros(n)
            if seeds.prev is None and model is not None and self.model_colour > 0:
                member = model.mean
            member = np.where(seeds.hard_fg, 1.0, np.where(seeds.hard_bg, 0.0, member))
            local = local_colour_llr(state, member, self.local_sigma, self.local_tau)
            colour = (1.0 - self.local_colour) * colour + self.local_colour * local

        # ---- prior: the previous mask. Some trust is left even next to the click
        # (whose error region is seeded whole, see Seeds), so the click does not spill
        # over its region.
        prior = np.zeros(n)
        model_term = None
        if model is not None:
            model_term = self.model_weight * model.weight * np.clip(model.logit, -3, 3)
        if seeds.prev is not None:
            free = seeds.prior_trust(state, graph, self.local_reach)
            trust = self.prior_weight * (trust_floor + (1.0 - trust_floor) * free)
            prior = trust * (2.0 * seeds.prev - 1.0)
            if model_term is not None:
                # The previous mask already holds the model's say away from the
                # newest click; there it would only fight earlier corrections.
                model_term = model_term * (1.0 - (1.0 - self.model_far) * free)

        # ---- pairwise: cheap to cut along strong, long-contrast boundaries.
        e = state.edges
        dlab = np.linalg.norm(state.sp_lab[e[:, 0]] - state.sp_lab[e[:, 1]], axis=1)
        pair = (
            self.smoothness
            * state.edge_len
            * np.exp(-state.edge_contrast / 1.5)
            * np.exp(-(dlab**2) / (2 * 12.0**2))
        )
        return _Terms(colour, geo, prior, pair, llr_bins, box_only, model, model_term)

    def _cut(
        self,
        state: ClassicalState,
        prompts: Prompts,
        seeds: Seeds,
        terms: _Terms,
        geodesic_weight: float,
    ) -> Prediction:
        """The superpixel cut and the pixel band refinement, with the geodesic evidence
        weighted by ``geodesic_weight``."""
        n = state.n
        e = state.edges
        size = state.sp_size.astype(np.float64)
        llr_bins = terms.llr_bins
        # ---- unary: positive favours foreground. Units: per pixel.
        model = terms.model
        if model is not None:
            geodesic_weight *= 1.0 - self.model_geodesic * model.weight
        evidence = (
            self.colour_weight * np.clip(terms.colour, -3, 3)
            + geodesic_weight * terms.geo
            + terms.prior
        )
        model_term = terms.model_term
        if model_term is not None:
            evidence = evidence + model_term
        fg = min_cut(n, e, terms.pair, evidence * size, seeds.hard_fg, seeds.hard_bg)
        if terms.box_only:
            # A box alone: the first colour model (inside vs outside the box) is
            # blurred by the background inside the box; re-learn it from the cut,
            # GrabCut style, a couple of times.
            hist = state.hist()
            counts = np.asarray(hist.sum(axis=1)).ravel()
            for _ in range(2):
                llr_bins = colour_llr_bins(hist, [fg * size], [(~fg) * size])
                colour = np.asarray(hist @ llr_bins).ravel() / np.maximum(counts, 1.0)
                evidence = self.colour_weight * np.clip(colour, -3, 3)
                if model_term is not None:
                    evidence = evidence + model_term
                fg = min_cut(n, e, terms.pair, evidence * size, seeds.hard_fg, seeds.hard_bg)
        fg = keep_connected(fg, e, seeds.hard_fg)
        proposal = fg[state.labels]
        if prompts.mask is not None and seeds.prev is not None:
            # Where the cut kept a superpixel's previous majority label, keep the
            # previous pixels too: earlier pixel-level refinements are not undone.
            kept = (fg == (seeds.prev >= 0.5))[state.labels]
            proposal = np.where(kept, np.asarray(prompts.mask, dtype=bool), proposal)
        mask = refine_band(
            state,
            proposal,
            evidence[state.labels],
            llr_bins,
            seeds.pixel_seeds,
            band=self.band,
            smoothness=self.pixel_smoothness,
            colour_weight=self.pixel_colour_weight,
            evidence_weight=self.pixel_evidence_weight,
            band_colour=self.band_colour,
            band_colour_scale=self.band_colour_scale,
            extra=self._pixel_prior(model),
        )
        mask = keep_connected_pixels(mask, seeds.pixel_seeds)
        score = confidence(evidence, fg, size, state.edges)
        return Prediction(mask=mask, score=score, low_res_logits=None)


@dataclass
class _Terms:
    """Per-superpixel terms of one prediction's cut (see :meth:`ClassicalEngine._terms`):
    ``(n,)`` colour log-likelihood ratio, geodesic evidence in ``[-1, 1]`` and signed
    previous-mask prior; ``(E,)`` pairwise weights; the colour model's per-bin log
    ratio; whether a box is the only prompt."""

    colour: np.ndarray
    geo: np.ndarray
    prior: np.ndarray
    pair: np.ndarray
    llr_bins: np.ndarray
    box_only: bool
    model: ModelPrior | None = None
    model_term: np.ndarray | None = None


# ----------------------------------------------------------------- components
def _geodesic_graph(state: ClassicalState) -> sp.csr_matrix:
    """Symmetric adjacency with geodesic step costs: colour difference plus boundary
    contrast, plus a small constant so that distance also grows with hops."""
    e = state.edges
    dlab = np.linalg.norm(state.sp_lab[e[:, 0]] - state.sp_lab[e[:, 1]], axis=1)
    cost = dlab / 10.0 + state.edge_contrast + 0.1
    n = state.n
    rows = np.concatenate([e[:, 0], e[:, 1]])
    cols = np.concatenate([e[:, 1], e[:, 0]])
    return sp.csr_matrix((np.concatenate([cost, cost]), (rows, cols)), shape=(n, n))


def state_border(state: ClassicalState) -> np.ndarray:
    """Ids of the superpixels touching the image border."""
    lab = state.labels
    return np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))


def _only_positive_clicks(prompts: Prompts) -> bool:
    """Whether ``prompts`` are positive clicks and nothing else."""
    return (
        bool(prompts.clicks)
        and all(c.positive for c in prompts.clicks)
        and prompts.box is None
        and not prompts.scribbles
        and prompts.mask is None
    )


def _near_clicks(state: ClassicalState, clicks: list[Click], sigma: float) -> np.ndarray:
    """``(n,)`` Gaussian weight (scale ``sigma`` pixels) of each superpixel's centroid
    distance to the nearest click."""
    xy = state.sp_xy
    d = np.min([np.hypot(xy[:, 0] - c.x, xy[:, 1] - c.y) for c in clicks], axis=0)
    return np.exp(-0.5 * (d / max(sigma, 1e-6)) ** 2)


def _geodesic_evidence(d_pos: np.ndarray | None, d_neg: np.ndarray | None, n: int) -> np.ndarray:
    """In ``[-1, 1]``: positive where positive seeds are geodesically nearer."""
    if d_pos is None:
        # No positive seed (a box or a previous mask alone): no geodesic evidence;
        # colour, the box and the previous mask decide.
        return np.zeros(n)
    if d_neg is None:
        # Only positive seeds: near them is foreground, far is background, with the
        # break-even distance at a typical step count.
        scale = 8.0
        return np.tanh((scale - d_pos) / scale)
    return (d_neg - d_pos) / np.maximum(d_neg + d_pos, 1e-6)
