namespace InsideLLMs.Distributed.Maths.Data;

/// <summary>
/// Whether a response does what a built-in instruction asks (<see cref="SyntheticGrammar.SampleInstruction"/>): for
/// " describe{entity} at the {place}" the first sentence takes that entity there ("{entity} {motion verb} to the
/// {place}."), for " describe{entity} with the money" it finds money ("{entity} found some money in the {place}.");
/// every later sentence is about the same entity (its name or its pronoun after an opener), with "was"/"were" in
/// agreement, and any "bank" takes the sense the first sentence set up (river or money, never after another place);
/// and the response ends a sentence and then the document. A response can satisfy an instruction without being the
/// one the grammar drew (another verb, emotion or action), which is why this is not an exact match.
/// </summary>
public sealed class InstructionCheck(SyntheticLexicon lexicon)
{
    public static InstructionCheck Default { get; } = new(SyntheticLexicon.Default);

    /// <summary>What was checked; <see cref="Satisfied"/> is every part together.</summary>
    public readonly record struct Verdict(bool Finished, bool NamesTheEntity, bool RightSetting, bool Consistent)
    {
        public bool Satisfied => Finished && NamesTheEntity && RightSetting && Consistent;
    }

    /// <param name="instruction">A built-in instruction, e.g. " describe the dogs at the river".</param>
    /// <param name="response">The generated text up to (not including) the end-of-document token.</param>
    /// <param name="ended">Whether generation stopped at an end-of-document token (not at the context's end).</param>
    /// <exception cref="ArgumentException">The instruction is not of the built-in forms.</exception>
    public Verdict Check(string instruction, string response, bool ended)
    {
        ArgumentNullException.ThrowIfNull(instruction);
        ArgumentNullException.ThrowIfNull(response);
        var (entity, pronoun, be, place) = Parse(instruction);
        var finished = ended && response.EndsWith('.');
        var sentences = response.Split('.', StringSplitOptions.RemoveEmptyEntries).Where(s => s.Trim().Length > 0).ToArray();
        if (sentences.Length == 0)
        {
            return new Verdict(finished, false, false, false);
        }

        var first = sentences[0];
        var names = first.StartsWith(entity + " ", StringComparison.Ordinal);
        var rest = names ? first[(entity.Length + 1)..] : "";
        var setting = place is null
            ? lexicon.Places.Any(p => rest == $"found some money in the {p}")
            : lexicon.MotionVerbs.Any(m => rest == $"{m} to the {place}");
        var sense = place is null ? lexicon.MoneyActions : place == "river" ? lexicon.RiverActions : [];
        var settingPlace = place ?? rest.Split(' ')[^1];
        var consistent = sentences.Skip(1).All(s => LaterSentenceFits(s, entity, pronoun, be, settingPlace, sense));
        return new Verdict(finished, names, setting, consistent);
    }

    private bool LaterSentenceFits(string sentence, string entity, string pronoun, string be, string place, IReadOnlyList<string> bankActions)
    {
        foreach (var opener in lexicon.Openers)
        {
            foreach (var subject in new[] { entity, " " + pronoun })
            {
                var start = " " + opener + subject;
                if (!sentence.StartsWith(start + " ", StringComparison.Ordinal))
                {
                    continue;
                }

                var predicate = sentence[(start.Length + 1)..];
                return lexicon.Emotions.Any(e => predicate == $"{be} {e}")
                    || predicate == $"left the {place}"
                    || bankActions.Any(a => predicate == $"went to the bank and {a}");
            }
        }

        return false;
    }

    /// <summary>The entity phrase (" the dogs", " Anna"), its pronoun and verb, and the place (null for the money form).</summary>
    private (string Entity, string Pronoun, string Be, string? Place) Parse(string instruction)
    {
        const string verb = " describe";
        const string money = " with the money";
        if (!instruction.StartsWith(verb, StringComparison.Ordinal))
        {
            throw new ArgumentException($"'{instruction}' is not a built-in instruction (\"{verb} ... at the PLACE\" or \"{verb} ...{money}\").", nameof(instruction));
        }

        var body = instruction[verb.Length..];
        string entity;
        string? place;
        if (body.EndsWith(money, StringComparison.Ordinal))
        {
            (entity, place) = (body[..^money.Length], null);
        }
        else
        {
            var at = body.LastIndexOf(" at the ", StringComparison.Ordinal);
            if (at < 0)
            {
                throw new ArgumentException($"'{instruction}' names no place (\" at the PLACE\") and no money.", nameof(instruction));
            }

            (entity, place) = (body[..at], body[(at + " at the ".Length)..]);
        }

        var word = entity.Split(' ', StringSplitOptions.RemoveEmptyEntries)[^1];
        if (lexicon.FemaleNames.Contains(word))
        {
            return (entity, "she", "was", place);
        }

        if (lexicon.MaleNames.Contains(word))
        {
            return (entity, "he", "was", place);
        }

        if (lexicon.Animals.Any(a => a.Singular == word))
        {
            return (entity, "it", "was", place);
        }

        if (lexicon.Animals.Any(a => a.Plural == word))
        {
            return (entity, "they", "were", place);
        }

        throw new ArgumentException($"'{instruction}' names no animal or name of the lexicon.", nameof(instruction));
    }
}
