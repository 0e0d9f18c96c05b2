"""The scene mask: which share of a box lies inside the frame on pixels that show the shelf."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shelfscan.compliance.scene import SceneMask


def test_a_box_on_the_fill_shows_nothing_and_one_across_its_edge_shows_its_scene_part():
    shows = np.ones((4, 8))
    shows[:, :2] = 0.0  # the left quarter of a 800 × 400 photo is fill
    mask = SceneMask(shows=shows, width=800.0, height=400.0)
    area = mask.area_shown(
        np.array(
            [
                [10.0, 10.0, 190.0, 390.0],  # on the fill
                [100.0, 0.0, 300.0, 100.0],  # half on the fill
                [400.0, 100.0, 500.0, 200.0],  # on the scene
                [700.0, 300.0, 900.0, 500.0],  # a quarter inside the frame
            ]
        )
    )
    np.testing.assert_allclose(area, [0.0, 100.0 * 100.0, 100.0 * 100.0, 100.0 * 100.0])
    assert mask.shown_share == pytest.approx(0.75)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(-300, 1100), st.floats(-300, 700), st.floats(1, 600), st.floats(1, 600)
        ),
        min_size=1,
        max_size=8,
    )
)
def test_a_mask_that_shows_everything_is_the_frame(boxes):
    # With no fill the share in view is the box clipped to the frame, as without a mask.
    mask = SceneMask(shows=np.ones((7, 11)), width=800.0, height=400.0)
    xyxy = np.array([(x, y, x + w, y + h) for x, y, w, h in boxes])
    clipped = np.clip(xyxy, 0, [800, 400, 800, 400])
    expected = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    np.testing.assert_allclose(mask.area_shown(xyxy), expected, rtol=1e-9, atol=1e-6)


def test_a_mask_needs_a_grid_and_a_photo():
    with pytest.raises(ValueError, match="2-d grid"):
        SceneMask(shows=np.ones(5), width=10.0, height=10.0)
    with pytest.raises(ValueError, match="covers a photo"):
        SceneMask(shows=np.ones((2, 2)), width=0.0, height=10.0)
