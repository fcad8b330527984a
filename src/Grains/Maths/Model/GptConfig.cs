namespace InsideLLMs.Distributed.Maths.Model;

/// <summary>Shape of a GPT. Defaults are the synthetic corpus's: small enough to train on 2 CPU cores in minutes.</summary>
public sealed record GptConfig
{
    /// <summary>Model vocabulary: the compact vocabulary of the corpus (a few hundred for the synthetic one), not GPT-2's 50,257.</summary>
    public required int VocabularySize { get; init; }

    /// <summary>Context length T. Synthetic documents are at most 64 GPT-2 tokens with their end token.</summary>
    public int BlockSize { get; init; } = 64;

    /// <summary>Transformer blocks. Four is what nanoGPT's CPU run uses; it also splits into 1, 2 or 4 pipeline stages.</summary>
    public int LayerCount { get; init; } = 4;

    public int HeadCount { get; init; } = 4;

    /// <summary>Width C. 128 with 4 heads gives 32 dimensions per head, as in nanoGPT's CPU configuration.</summary>
    public int EmbeddingSize { get; init; } = 128;

    /// <summary>0 by default: at this size and step count the model underfits, and dropout only slows it down.</summary>
    public double Dropout { get; init; }

    /// <summary>Biases in Linear and LayerNorm. nanoGPT trains without them (a little faster, no worse).</summary>
    public bool Bias { get; init; }

    public int HeadSize => EmbeddingSize / HeadCount;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first problem; a valid config returns itself.</summary>
    public GptConfig Validate()
    {
        if (VocabularySize < 3)
        {
            throw new ArgumentException($"VocabularySize must be at least 3 (end, unknown, one token); got {VocabularySize}.");
        }

        if (BlockSize < 1)
        {
            throw new ArgumentException($"BlockSize (context length) must be at least 1; got {BlockSize}.");
        }

        if (LayerCount < 1)
        {
            throw new ArgumentException($"LayerCount must be at least 1; got {LayerCount}.");
        }

        if (HeadCount < 1 || EmbeddingSize < 1)
        {
            throw new ArgumentException($"HeadCount and EmbeddingSize must be positive; got {HeadCount} and {EmbeddingSize}.");
        }

        if (EmbeddingSize % HeadCount != 0)
        {
            throw new ArgumentException(
                $"The width {EmbeddingSize} is not divisible by {HeadCount} heads: each head needs a whole slice of the width.");
        }

        if (Dropout is < 0 or >= 1 || double.IsNaN(Dropout))
        {
            throw new ArgumentException($"Dropout must be in [0, 1); got {Dropout}.");
        }

        return this;
    }

    /// <summary>Parameters of the whole model, counting the tied embedding/head matrix once.</summary>
    public long ParameterCount
    {
        get
        {
            long c = EmbeddingSize;
            long bias = Bias ? 1 : 0;
            var embedding = (long)VocabularySize * c + (long)BlockSize * c;
            var attention = c * 3 * c + bias * 3 * c + c * c + bias * c;
            var mlp = c * 4 * c + bias * 4 * c + 4 * c * c + bias * c;
            var norms = 2 * (c + bias * c);
            return embedding + LayerCount * (attention + mlp + norms) + (c + bias * c);
        }
    }

    /// <summary>
    /// Floating-point operations to train on one token: forward + backward = 3 x forward, where forward does
    /// 2 FLOPs per weight of every matrix product (12C^2 per layer, VC for the head) and 4TC per layer for
    /// q.k and weights.v over the full context (the PaLM appendix count, 6N + 12LTC).
    /// </summary>
    public double TrainingFlopsPerToken
    {
        get
        {
            double c = EmbeddingSize;
            var matrixWeights = LayerCount * 12.0 * c * c + (double)VocabularySize * c;
            return 6.0 * matrixWeights + 12.0 * LayerCount * BlockSize * c;
        }
    }
}
