namespace InsideLLMs.Distributed.Maths.Data;

/// <summary>
/// What a simulated annotator prefers in a completion of a prompt: it recalls the prompt's entity, keeps
/// "was"/"were" in agreement with its subject, follows "bank" with the sense the context set up, has a
/// moderate length and ends a sentence. Scores are deterministic; higher is better.
/// </summary>
public sealed class PreferenceRule
{
    // Weights in score points: recalling the entity matters most, a wrong bank sense or agreement is the worst slip.
    private const double RecallByName = 2;
    private const double RecallByPronoun = 1;
    private const double Forgotten = -1;
    private const double AgreementError = -2;
    private const double RightSense = 1;
    private const double WrongSense = -2;
    private const double BankWithoutContext = -1;
    private const double ModerateLength = 1;
    private const double TooShort = -2;
    private const double TooLong = -1;
    private const double EndsSentence = 0.5;
    private const int MinWords = 4;
    private const int ModerateMinWords = 6;
    private const int ModerateMaxWords = 30;
    private const int MaxWords = 45;

    private readonly Dictionary<string, (string Pronoun, bool Plural)> _subjects = new(StringComparer.Ordinal);
    private readonly HashSet<string> _riverStarts;
    private readonly HashSet<string> _moneyStarts;

    public PreferenceRule(SyntheticLexicon lexicon)
    {
        ArgumentNullException.ThrowIfNull(lexicon);
        foreach (var animal in lexicon.Animals)
        {
            _subjects[animal.Singular] = ("it", false);
            _subjects[animal.Plural] = ("they", true);
        }

        foreach (var name in lexicon.FemaleNames)
        {
            _subjects[name] = ("she", false);
        }

        foreach (var name in lexicon.MaleNames)
        {
            _subjects[name] = ("he", false);
        }

        foreach (var pronoun in new[] { "it", "she", "he" })
        {
            _subjects[pronoun] = (pronoun, false);
        }

        _subjects["they"] = ("they", true);
        _riverStarts = [.. lexicon.RiverActions.Select(a => a.Split(' ')[0])];
        _moneyStarts = [.. lexicon.MoneyActions.Select(a => a.Split(' ')[0])];
    }

    public static PreferenceRule Default { get; } = new(SyntheticLexicon.Default);

    public double Score(string prompt, string completion) => Explain(prompt, completion).Total;

    /// <summary>The score of <paramref name="completion"/> and the points each of the rule's parts gave it.</summary>
    public PreferenceScore Explain(string prompt, string completion)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(completion);
        var promptWords = Words(prompt);
        var words = Words(completion);
        double recall = 0, agreement = 0, bank = 0, length, end = 0;

        // The prompt's entity: its first animal or name (pronouns alone name no one).
        var entity = promptWords.FirstOrDefault(w => _subjects.TryGetValue(w, out var s) && s.Pronoun != w);
        if (entity is not null)
        {
            recall = words.Contains(entity) ? RecallByName
                : words.Contains(_subjects[entity].Pronoun) ? RecallByPronoun
                : Forgotten;
        }

        for (var i = 0; i + 1 < words.Count; i++)
        {
            if (_subjects.TryGetValue(words[i], out var subject)
                && ((words[i + 1] == "was" && subject.Plural) || (words[i + 1] == "were" && !subject.Plural)))
            {
                agreement += AgreementError;
            }
        }

        // The sense of "bank" is set by the last "river" or "money" before it, in the prompt or the completion.
        var context = promptWords.Concat(words).ToList();
        var offset = promptWords.Count;
        for (var i = offset; i < context.Count; i++)
        {
            if (context[i] != "bank")
            {
                continue;
            }

            var cue = context.Take(i).LastOrDefault(w => w is "river" or "money");
            var next = i + 2 < context.Count && context[i + 1] == "and" ? context[i + 2] : null;
            var isRiver = next is not null && _riverStarts.Contains(next);
            var isMoney = next is not null && _moneyStarts.Contains(next);
            bank += cue switch
            {
                null => BankWithoutContext,
                "river" => isRiver ? RightSense : isMoney ? WrongSense : 0,
                _ => isMoney ? RightSense : isRiver ? WrongSense : 0,
            };
        }

        length = words.Count switch
        {
            < MinWords => TooShort,
            > MaxWords => TooLong,
            >= ModerateMinWords and <= ModerateMaxWords => ModerateLength,
            _ => 0,
        };

        if (completion.TrimEnd().EndsWith('.'))
        {
            end = EndsSentence;
        }

        return new PreferenceScore(recall, agreement, bank, length, end);
    }

    /// <summary>Indices of the completions, best first; equal scores keep their given order.</summary>
    public int[] Rank(string prompt, IReadOnlyList<string> completions)
    {
        ArgumentNullException.ThrowIfNull(completions);
        var scores = completions.Select(c => Score(prompt, c)).ToArray();
        return [.. Enumerable.Range(0, completions.Count).OrderByDescending(i => scores[i]).ThenBy(i => i)];
    }

    private static List<string> Words(string text) =>
        [.. text.Split([' ', '.', ',', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries)];
}

/// <summary>The preference rule's points for one completion, part by part; <see cref="Total"/> is its score.</summary>
/// <param name="Recall">The prompt's entity named (+2), referred to by its pronoun (+1) or forgotten (−1); 0 when the prompt names none.</param>
/// <param name="Agreement">−2 for each subject followed by the wrong one of "was"/"were".</param>
/// <param name="Bank">Each "bank" followed by the sense its context set up (+1), the other sense (−2), or with no context (−1).</param>
/// <param name="Length">6 to 30 words +1; under 4 words −2; over 45 words −1; otherwise 0.</param>
/// <param name="End">+0.5 when the completion ends a sentence.</param>
public readonly record struct PreferenceScore(double Recall, double Agreement, double Bank, double Length, double End)
{
    public double Total => Recall + Agreement + Bank + Length + End;

    /// <summary>The parts by name, in the rule's order.</summary>
    public IReadOnlyList<(string Part, double Points)> Parts =>
        [("recall", Recall), ("agreement", Agreement), ("bank", Bank), ("length", Length), ("end", End)];
}
