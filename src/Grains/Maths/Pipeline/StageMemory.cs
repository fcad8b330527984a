using System.Globalization;
using InsideLLMs.Distributed.Maths.Model;

namespace InsideLLMs.Distributed.Maths.Pipeline;

/// <summary>
/// What one pipeline stage of one replica holds in memory while it trains, estimated before anything is allocated.
/// The constants are measured, not derived: the benchmark suite <c>memory</c> trains whole-model stages of five shapes
/// (0.8M to 151M parameters, 4 to 256 rows, context 64 and 256) in fresh processes and prints this estimate beside
/// each one's peak resident memory.
/// </summary>
/// <param name="StateBytes">Weights, gradients and AdamW's two moments (16 bytes a parameter), the flat gradient the
/// all-reduce works on (4), and the optimizer step's temporaries or a checkpoint's copies of weights and moments
/// (measured 13 at 151M parameters, rounded up): <see cref="BytesPerParameter"/> bytes a parameter.</param>
/// <param name="ActivationBytesPerMicroBatch">What one micro-batch's forward keeps for its backward.</param>
/// <param name="MicroBatchesInFlight">The most micro-batches whose activations the schedule holds at once on this stage.</param>
/// <param name="LogitBytes">The last stage's logits, their softmax and their gradient for one micro-batch.</param>
public sealed record StageMemory(int Stage, long Parameters, long StateBytes, long ActivationBytesPerMicroBatch, int MicroBatchesInFlight, long LogitBytes)
{
    /// <summary>Bytes a parameter costs while training (see <see cref="StateBytes"/>).</summary>
    public const int BytesPerParameter = 36;

    /// <summary>
    /// Bytes a block keeps per row, position and channel for the backward: the inputs of both norms, q, k and v, the
    /// attention output and its projection, the MLP's 4C-wide hidden layer before and after GELU, the residual sums, in
    /// fp32, measured as 94-95 (the fused attention keeps no T x T scores: the same at context 64 and 256), rounded up.
    /// </summary>
    public const int ActivationBytesPerElement = 96;

    /// <summary>What a training stage holds whatever its size: libtorch's allocator and thread buffers (measured 20 MB).</summary>
    public const long OverheadBytes = 24_000_000;

    public long TotalBytes => Bytes(OverheadBytes + StateBytes + ((double)ActivationBytesPerMicroBatch * MicroBatchesInFlight) + LogitBytes);

    /// <summary>The activations of every micro-batch in flight.</summary>
    public long ActivationBytes => Bytes((double)ActivationBytesPerMicroBatch * MicroBatchesInFlight);

    /// <summary>
    /// Every stage of one replica. GPipe holds every micro-batch's activations before the first backward; 1F1B at most
    /// P - s on stage s (and never more than M).
    /// </summary>
    public static IReadOnlyList<StageMemory> Estimate(GptConfig config, int stages, int batchSize, int microBatches, PipelineScheduleKind schedule)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(microBatches, 1);
        // In doubles: a spec far beyond any machine (a width of 10^5, a batch of 10^9) must give a huge estimate, not wrap.
        double b = batchSize, t = config.BlockSize, c = config.EmbeddingSize, v = config.VocabularySize;
        double bias = config.Bias ? 1 : 0;
        var block = (12 * c * c) + (11 * bias * c) + (2 * c); // attention and MLP matrices, their biases, two norm gains
        var blockActivations = b * t * c * ActivationBytesPerElement;
        return
        [
            .. StageSpec.Partition(config, stages).Select(stage =>
            {
                var parameters = (stage.BlockCount * block)
                    + (stage.IsFirst ? (v + t) * c : 0)
                    + (stage.IsLast ? (c * (1 + bias)) + (stage.IsFirst ? 0 : v * c) : 0); // the last stage's own copy of the tied head
                var activations = (stage.BlockCount * blockActivations) + (stage.IsFirst ? b * t * c * 2 * sizeof(float) : 0); // the two embedding lookups
                var inFlight = schedule == PipelineScheduleKind.GPipe ? microBatches : Math.Min(microBatches, stages - stage.Index);
                var logits = stage.IsLast ? 3 * b * t * v * sizeof(float) : 0;
                return new StageMemory(stage.Index, Bytes(parameters), Bytes(parameters * BytesPerParameter), Bytes(activations), inFlight, Bytes(logits));
            }),
        ];
    }

    /// <summary>A count of bytes as a long, saturating at <see cref="long.MaxValue"/> instead of wrapping.</summary>
    public static long Bytes(double value) => value >= long.MaxValue ? long.MaxValue : (long)value;

    /// <summary>Bytes as people read them: "2.1 TB", "1.4 GB", "512 MB", "80 kB".</summary>
    public static string Format(long bytes) => bytes switch
    {
        >= 1_000_000_000_000 => (bytes / 1e12).ToString("N1", CultureInfo.InvariantCulture) + " TB",
        >= 1_000_000_000 => (bytes / 1e9).ToString("F1", CultureInfo.InvariantCulture) + " GB",
        >= 1_000_000 => (bytes / 1e6).ToString("F0", CultureInfo.InvariantCulture) + " MB",
        >= 1_000 => (bytes / 1e3).ToString("F0", CultureInfo.InvariantCulture) + " kB",
        _ => bytes.ToString(CultureInfo.InvariantCulture) + " B",
    };
}
