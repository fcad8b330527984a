namespace InsideLLMs.Distributed.Maths.Data;

/// <summary>
/// xoshiro256** seeded through SplitMix64: the same seed gives the same stream on every machine and runtime,
/// which <see cref="System.Random"/> does not promise. <see cref="Mix"/> derives a seed from several numbers
/// (seed, step, row...) so any single draw can be replayed without replaying the ones before it.
/// </summary>
public sealed class DeterministicRandom
{
    private const ulong Golden = 0x9E3779B97F4A7C15;

    private ulong _s0;
    private ulong _s1;
    private ulong _s2;
    private ulong _s3;

    public DeterministicRandom(long seed)
    {
        // SplitMix64 spreads any seed, 0 included, over the four words: xoshiro's state must not be all zero.
        var x = (ulong)seed;
        _s0 = SplitMix64(ref x);
        _s1 = SplitMix64(ref x);
        _s2 = SplitMix64(ref x);
        _s3 = SplitMix64(ref x);
    }

    /// <summary>A stable 64-bit hash of the values, in order: Mix(1, 2) differs from Mix(2, 1) and from Mix(1, 2, 0).</summary>
    public static long Mix(params ReadOnlySpan<long> values)
    {
        var h = Finalize(Golden * (ulong)(values.Length + 1));
        for (var i = 0; i < values.Length; i++)
        {
            h = Finalize(h ^ Finalize((ulong)values[i] + (Golden * (ulong)(i + 1))));
        }

        return (long)h;
    }

    public ulong NextUInt64()
    {
        var result = RotateLeft(_s1 * 5, 7) * 9;
        var t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, exclusiveMax), without modulo bias (rejection sampling).</summary>
    public long NextLong(long exclusiveMax)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(exclusiveMax, 1);
        var bound = (ulong)exclusiveMax;
        var limit = ulong.MaxValue - (ulong.MaxValue % bound);
        ulong draw;
        do
        {
            draw = NextUInt64();
        }
        while (draw >= limit);

        return (long)(draw % bound);
    }

    public int NextInt(int exclusiveMax) => (int)NextLong(exclusiveMax);

    private static ulong SplitMix64(ref ulong x)
    {
        x += Golden;
        return Finalize(x);
    }

    private static ulong Finalize(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return z ^ (z >> 31);
    }

    private static ulong RotateLeft(ulong x, int k) => (x << k) | (x >> (64 - k));
}
