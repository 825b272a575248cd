// yuv420: the output picture (GL orientation, RGBA) → one yuv420p image, exactly as the encoder takes
// it (render/recorder.py): a one-channel target `width` wide and height × 3/2 tall whose bytes, row
// after row, are the Y plane (top row first), then U, then V at half size each way. BT.601 limited
// range, chroma the mean of each 2×2 block: what ffmpeg's converter does, done here instead of on the
// CPU the show shares. One full-screen triangle, no vertex buffer.
#if defined VERTEX_SHADER
void main() {
    vec2 p = vec2((gl_VertexID << 1) & 2, gl_VertexID & 2);
    gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
#elif defined FRAGMENT_SHADER
uniform sampler2D picture;
uniform ivec2 size;  // the picture's width and height (both even)
out float value;

vec3 rgb_at(int x, int y) {  // y counts from the top, as the encoder's rows do
    return texelFetch(picture, ivec2(x, size.y - 1 - y), 0).rgb;
}

void main() {
    int w = size.x, h = size.y;
    int i = int(gl_FragCoord.y) * w + int(gl_FragCoord.x);  // the byte's index in the image
    if (i < w * h) {
        vec3 c = rgb_at(i % w, i / w);
        value = (16.0 + dot(c, vec3(65.481, 128.553, 24.966))) / 255.0;
        return;
    }
    int quarter = w * h / 4;
    int j = i - w * h;
    bool v = j >= quarter;
    j -= v ? quarter : 0;
    int x = 2 * (j % (w / 2)), y = 2 * (j / (w / 2));
    vec3 c = 0.25 * (rgb_at(x, y) + rgb_at(x + 1, y) + rgb_at(x, y + 1) + rgb_at(x + 1, y + 1));
    value = v ? (128.0 + dot(c, vec3(112.0, -93.786, -18.214))) / 255.0
              : (128.0 + dot(c, vec3(-37.797, -74.203, 112.0))) / 255.0;
}
#endif
