using InsideLLMs.Distributed.Maths.Tokenization;

namespace InsideLLMs.Distributed.Maths.Data;

/// <summary>
/// Token streams and batches for the trainers, as model IDs of a <see cref="ModelVocabulary"/> built from the
/// whole corpus (training and validation). Batches are pure functions of their arguments: any replica can draw
/// any row at any time and get the same tokens.
/// </summary>
/// <remarks>
/// Synthetic corpus: the streams are <c>EOD d1 EOD d2 ... dN EOD</c> and training windows start at an EOD, so
/// every predicted token sees its whole document prefix and the <see cref="EntropyFloor"/> is reachable.
/// Text corpus: the first 90% of the tokens train and the rest validate; windows start anywhere (nanoGPT).
/// </remarks>
public sealed class TokenDataset : ITrainingBatches
{
    /// <summary>
    /// ~15 GPT-2 tokens a document (EOD included): ~760k training tokens, about what a few minutes of CPU training
    /// reads (2,000 steps of 16 × 64 tokens), so the model sees each document once or twice rather than memorising it.
    /// Building takes ~0.5 s.
    /// </summary>
    public const int DefaultTrainDocuments = 50_000;

    /// <summary>~31k validation targets: the floor and the validation loss are estimated to within about 1%.</summary>
    public const int DefaultValidationDocuments = 2_000;

    /// <summary>Share of a text corpus's tokens used for training (nanoGPT: int(n * 0.9)).</summary>
    public const double TextTrainFraction = 0.9;

    private readonly int[] _train;
    private readonly int[] _validation;
    private readonly int[] _trainStarts;
    private readonly int[] _validationDocumentLengths;

    private TokenDataset(
        DatasetDescriptor descriptor,
        ModelVocabulary vocabulary,
        int[] train,
        int[] validation,
        int[] trainStarts,
        int[] validationDocumentLengths,
        double? entropyFloor)
    {
        Descriptor = descriptor;
        Vocabulary = vocabulary;
        _train = train;
        _validation = validation;
        _trainStarts = trainStarts;
        _validationDocumentLengths = validationDocumentLengths;
        EntropyFloor = entropyFloor;
        ValidationTargetCount = IsSynthetic
            ? validationDocumentLengths.Sum(length => (long)length + 1)
            : (validation.Length - 1) / BlockSize * (long)BlockSize;
    }

    public DatasetDescriptor Descriptor { get; }

    public ModelVocabulary Vocabulary { get; }

    public int BlockSize => Descriptor.BlockSize;

    public bool IsSynthetic => Descriptor.Kind == DatasetDescriptor.SyntheticKind;

    public ReadOnlySpan<int> TrainTokens => _train;

    public ReadOnlySpan<int> ValidationTokens => _validation;

    /// <summary>Number of distinct training windows (start positions a row can draw).</summary>
    public int TrainWindowCount => _trainStarts.Length;

    /// <summary>
    /// Synthetic only: −Σ log p(document) / Σ (tokens + 1) over the validation documents, in nats per model token,
    /// the +1 being the EOD that ends each document. No model can have a lower expected validation loss.
    /// </summary>
    public double? EntropyFloor { get; }

    /// <summary>Targets <see cref="ValidationBatches"/> measure the loss over, all batches together.</summary>
    public long ValidationTargetCount { get; }

    /// <exception cref="ArgumentException">Bad sizes, a document longer than the block, or streams shorter than a context.</exception>
    public static TokenDataset Synthetic(
        SyntheticCorpus corpus,
        ITokenEncoding encoding,
        int blockSize,
        int trainDocuments = DefaultTrainDocuments,
        int validationDocuments = DefaultValidationDocuments)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        ArgumentNullException.ThrowIfNull(encoding);
        RequireBlockSize(blockSize);
        if (trainDocuments < 1 || validationDocuments < 1)
        {
            throw new ArgumentException(
                $"A synthetic dataset needs at least one training and one validation document; got {trainDocuments} and {validationDocuments}.");
        }

        var trainDocs = Tokenize(corpus, encoding, blockSize, trainDocuments, corpus.TrainDocument);
        var validationDocs = Tokenize(corpus, encoding, blockSize, validationDocuments, corpus.ValidationDocument);

        // Every word the grammar knows joins the vocabulary, so instructions and rare words are never <unk>.
        var sourceIds = trainDocs.Concat(validationDocs).SelectMany(d => d.Tokens)
            .Concat(corpus.Grammar.VocabularyTexts.SelectMany(text => encoding.Encode(text)));
        var vocabulary = ModelVocabulary.Build(encoding, sourceIds);

        var (train, trainStarts) = Stream(trainDocs, vocabulary);
        var (validation, _) = Stream(validationDocs, vocabulary);
        RequireContext(blockSize, train.Length, validation.Length);

        var logProbability = validationDocs.Sum(d => d.LogProbability);
        var tokens = validationDocs.Sum(d => d.Tokens.Length + 1L);
        var descriptor = new DatasetDescriptor(
            DatasetDescriptor.SyntheticKind, encoding.Name, blockSize, corpus.Seed, trainDocuments, validationDocuments,
            corpus.Lexicon.Name, SyntheticGrammar.Version, TextName: null, TextSha256: null);
        return new TokenDataset(
            descriptor,
            vocabulary,
            train,
            validation,
            [.. trainStarts.Where(s => s + blockSize < train.Length)],
            [.. validationDocs.Select(d => d.Tokens.Length)],
            -logProbability / tokens);
    }

    /// <exception cref="ArgumentException">A bad block size, or a stream shorter than a context.</exception>
    public static TokenDataset Text(TextCorpus corpus, ITokenEncoding encoding, int blockSize)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        ArgumentNullException.ThrowIfNull(encoding);
        RequireBlockSize(blockSize);
        var sourceIds = encoding.Encode(corpus.Text);
        var vocabulary = ModelVocabulary.Build(encoding, sourceIds);
        var tokens = Array.ConvertAll(sourceIds, vocabulary.ToModel);
        var trainCount = (int)(tokens.Length * TextTrainFraction);
        var train = tokens[..trainCount];
        var validation = tokens[trainCount..];
        RequireContext(blockSize, train.Length, validation.Length);
        var descriptor = new DatasetDescriptor(
            DatasetDescriptor.TextKind, encoding.Name, blockSize, Seed: 0, TrainDocuments: 0, ValidationDocuments: 0,
            Lexicon: null, GrammarVersion: 0, corpus.Name, corpus.Sha256);
        return new TokenDataset(
            descriptor, vocabulary, train, validation, [.. Enumerable.Range(0, train.Length - blockSize)], [], entropyFloor: null);
    }

    /// <summary>Rebuilds the dataset a checkpoint recorded; a text corpus must be passed again and must match its hash.</summary>
    /// <exception cref="InvalidDataException">The descriptor cannot be honoured: unknown kind, another grammar version, or different text.</exception>
    public static TokenDataset FromDescriptor(DatasetDescriptor descriptor, TextCorpus? text = null)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        var encoding = TokenEncodings.Get(descriptor.Encoding);
        switch (descriptor.Kind)
        {
            case DatasetDescriptor.SyntheticKind:
                if (descriptor.GrammarVersion != SyntheticGrammar.Version)
                {
                    throw new InvalidDataException(
                        $"The dataset was written by synthetic grammar version {descriptor.GrammarVersion}; this build has version {SyntheticGrammar.Version} and would produce different documents.");
                }

                var lexicon = SyntheticLexicon.Get(descriptor.Lexicon ?? SyntheticLexicon.DefaultName);
                return Synthetic(
                    new SyntheticCorpus(descriptor.Seed, lexicon), encoding, descriptor.BlockSize,
                    descriptor.TrainDocuments, descriptor.ValidationDocuments);
            case DatasetDescriptor.TextKind:
                if (text is null)
                {
                    throw new InvalidDataException(
                        $"The dataset was built from the text '{descriptor.TextName}' (SHA-256 {descriptor.TextSha256}); pass that text to rebuild it.");
                }

                if (!string.Equals(text.Sha256, descriptor.TextSha256, StringComparison.OrdinalIgnoreCase))
                {
                    throw new InvalidDataException(
                        $"The text '{text.Name}' (SHA-256 {text.Sha256}) is not the text the dataset was built from, '{descriptor.TextName}' (SHA-256 {descriptor.TextSha256}).");
                }

                return Text(text, encoding, descriptor.BlockSize);
            default:
                throw new InvalidDataException(
                    $"Unknown dataset kind '{descriptor.Kind}'; expected {DatasetDescriptor.SyntheticKind} or {DatasetDescriptor.TextKind}.");
        }
    }

    /// <summary>
    /// Micro-batch <paramref name="microBatch"/> of replica <paramref name="replica"/>. Row b is global row
    /// g = (replica × microBatchesPerReplica + microBatch) × batchSize + b, and its window start comes from
    /// DeterministicRandom(Mix(seed, step, g)); so one process with M × R micro-batches sees exactly the rows
    /// of R replicas with M each.
    /// </summary>
    public TokenBatch TrainBatch(long seed, long step, int microBatch, int replica, int microBatchesPerReplica, int batchSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(microBatchesPerReplica, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(replica);
        if ((uint)microBatch >= (uint)microBatchesPerReplica)
        {
            throw new ArgumentOutOfRangeException(nameof(microBatch), microBatch, $"Micro-batches run from 0 to {microBatchesPerReplica - 1}.");
        }

        var t = BlockSize;
        var inputs = new long[batchSize * t];
        var targets = new long[batchSize * t];
        var firstRow = ((long)replica * microBatchesPerReplica + microBatch) * batchSize;
        for (var b = 0; b < batchSize; b++)
        {
            var random = new DeterministicRandom(DeterministicRandom.Mix(seed, step, firstRow + b));
            var start = _trainStarts[random.NextInt(_trainStarts.Length)];
            for (var i = 0; i < t; i++)
            {
                inputs[(b * t) + i] = _train[start + i];
                targets[(b * t) + i] = _train[start + i + 1];
            }
        }

        return new TokenBatch(inputs, targets, batchSize, t);
    }

    /// <summary>Every window has all B x T targets, so the step's count is not needed: pre-training averages per micro-batch.</summary>
    TokenBatch ITrainingBatches.TrainBatch(long seed, long step, int microBatch, int replica, int microBatchesPerReplica, int batchSize, int replicas) =>
        TrainBatch(seed, step, microBatch, replica, microBatchesPerReplica, batchSize);

    /// <summary>
    /// The validation set in a fixed order; the last batch may have fewer rows. Synthetic: whole documents, each
    /// after an EOD, packed into windows of T + 1 tokens (a document that does not fit starts the next window),
    /// padding targets <see cref="TokenBatch.IgnoreIndex"/>, so the loss covers each document's tokens and its
    /// closing EOD exactly once. Text: consecutive windows of T inputs.
    /// </summary>
    public IEnumerable<TokenBatch> ValidationBatches(int batchSize, int? maxBatches = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        if (maxBatches is < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(maxBatches), maxBatches, "The batch limit cannot be negative.");
        }

        return Batches(IsSynthetic ? PackedWindows() : ConsecutiveWindows(), batchSize, maxBatches ?? int.MaxValue);
    }

    private IEnumerable<TokenBatch> Batches(IEnumerable<(int Start, int Length)> windows, int batchSize, int maxBatches)
    {
        var rows = new List<(int Start, int Length)>(batchSize);
        var emitted = 0;
        foreach (var window in windows)
        {
            if (emitted == maxBatches)
            {
                yield break;
            }

            rows.Add(window);
            if (rows.Count == batchSize)
            {
                yield return ValidationBatch(rows);
                emitted++;
                rows.Clear();
            }
        }

        if (rows.Count > 0 && emitted < maxBatches)
        {
            yield return ValidationBatch(rows);
        }
    }

    private TokenBatch ValidationBatch(List<(int Start, int Length)> rows)
    {
        var t = BlockSize;
        var inputs = new long[rows.Count * t];
        var targets = new long[rows.Count * t];
        Array.Fill(targets, TokenBatch.IgnoreIndex);
        for (var b = 0; b < rows.Count; b++)
        {
            var (start, length) = rows[b];
            for (var i = 0; i < length; i++)
            {
                inputs[(b * t) + i] = _validation[start + i];
                targets[(b * t) + i] = _validation[start + i + 1];
            }
        }

        return new TokenBatch(inputs, targets, rows.Count, t);
    }

    /// <summary>Windows as (start, inputs used): the start is an EOD and the inputs end just before the EOD that closes the last document.</summary>
    private IEnumerable<(int Start, int Length)> PackedWindows()
    {
        var position = 0;
        var start = 0;
        var length = 0;
        foreach (var documentLength in _validationDocumentLengths)
        {
            var unit = documentLength + 1; // its EOD (input) and its tokens; the closing EOD is the next unit's
            if (length + unit > BlockSize)
            {
                yield return (start, length);
                start = position;
                length = 0;
            }

            length += unit;
            position += unit;
        }

        yield return (start, length);
    }

    private IEnumerable<(int Start, int Length)> ConsecutiveWindows()
    {
        for (var start = 0; start + BlockSize < _validation.Length; start += BlockSize)
        {
            yield return (start, BlockSize);
        }
    }

    private static List<(int[] Tokens, double LogProbability)> Tokenize(
        SyntheticCorpus corpus, ITokenEncoding encoding, int blockSize, int count, Func<int, SyntheticDocument> document)
    {
        var documents = new List<(int[] Tokens, double LogProbability)>(count);
        for (var i = 0; i < count; i++)
        {
            var doc = document(i);
            var tokens = encoding.Encode(doc.Text);
            if (tokens.Length + 1 > blockSize)
            {
                throw new ArgumentException(
                    $"Synthetic document {i} has {tokens.Length} {encoding.Name} tokens plus its end-of-document token, more than the block size {blockSize}; a window must hold a whole document. Use a larger block size.",
                    nameof(blockSize));
            }

            documents.Add((tokens, doc.LogProbability));
        }

        return documents;
    }

    /// <summary>The stream EOD d1 EOD d2 ... dN EOD as model IDs, and the position of the EOD before each document.</summary>
    private static (int[] Stream, int[] Starts) Stream(List<(int[] Tokens, double LogProbability)> documents, ModelVocabulary vocabulary)
    {
        var stream = new int[documents.Sum(d => d.Tokens.Length + 1) + 1];
        var starts = new int[documents.Count];
        var position = 0;
        for (var i = 0; i < documents.Count; i++)
        {
            starts[i] = position;
            stream[position++] = ModelVocabulary.EndOfDocument;
            foreach (var id in documents[i].Tokens)
            {
                stream[position++] = vocabulary.ToModel(id);
            }
        }

        stream[position] = ModelVocabulary.EndOfDocument;
        return (stream, starts);
    }

    private static void RequireBlockSize(int blockSize)
    {
        if (blockSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, "The block size (context length) must be at least 1.");
        }
    }

    private static void RequireContext(int blockSize, int trainLength, int validationLength)
    {
        if (blockSize + 1 > trainLength || blockSize + 1 > validationLength)
        {
            throw new ArgumentException(
                $"A context of {blockSize + 1} tokens (block size + 1) does not fit the streams: training has {trainLength} tokens and validation {validationLength}. Use a smaller block size or a larger corpus.",
                nameof(blockSize));
        }
    }
}
