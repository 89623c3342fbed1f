// The fuzzy search behind PostgREST's "Perhaps you meant …" hints, checked against the examples
// the Haskell fuzzyset package documents (PostgREST uses its fromList/getOne).
import { describe, expect, it } from 'vitest';
import { FuzzySet } from '../../src/rest/plan/fuzzy.ts';

const states = [
  'Alabama', 'Alaska', 'American Samoa', 'Arizona', 'Arkansas', 'California', 'Colorado', 'Connecticut',
  'Delaware', 'District of Columbia', 'Florida', 'Georgia', 'Guam', 'Hawaii', 'Idaho', 'Illinois', 'Indiana',
  'Iowa', 'Kansas', 'Kentucky', 'Louisiana', 'Maine', 'Maryland', 'Massachusetts', 'Michigan', 'Minnesota',
  'Mississippi', 'Missouri', 'Montana', 'Nebraska', 'Nevada', 'New Hampshire', 'New Jersey', 'New Mexico',
  'New York', 'North Carolina', 'North Dakota', 'Northern Marianas Islands', 'Ohio', 'Oklahoma', 'Oregon',
  'Pennsylvania', 'Puerto Rico', 'Rhode Island', 'South Carolina', 'South Dakota', 'Tennessee', 'Texas', 'Utah',
  'Vermont', 'Virginia', 'Virgin Islands', 'Washington', 'West Virginia', 'Wisconsin', 'Wyoming',
]; // prettier-ignore

const rounded = (results: [number, string][]) => results.map(([score, value]) => [Number(score.toFixed(4)), value]);

describe('FuzzySet', () => {
  it('scores as fuzzyset does', () => {
    const set = new FuzzySet(states);
    expect(rounded(set.get('Burger Islands'))).toEqual([
      [0.7143, 'Virgin Islands'],
      [0.5714, 'Rhode Island'],
      [0.44, 'Northern Marianas Islands'],
      [0.3571, 'Maryland'],
    ]);
    expect(rounded(set.get('Why-oh-me-ing'))).toEqual([[0.5385, 'Wyoming']]);
    expect(rounded(set.get('Connect a cat'))).toEqual([[0.6923, 'Connecticut']]);
    expect(rounded(set.get('CanOfSauce'))).toEqual([[0.4, 'Kansas']]);
    expect(set.get('alaska')).toEqual([[1, 'Alaska']]);
    const shaggy = new FuzzySet(['Shaggy Rogers', 'Fred Jones', 'Daphne Blake', 'Velma Dinkley']);
    expect(rounded(shaggy.get('Shaggy Jones'))).toEqual([
      [0.7692, 'Shaggy Rogers'],
      [0.5, 'Fred Jones'],
    ]);
    expect(new FuzzySet(['Jurassic Park', 'Terminator', 'The Matrix']).getOne('percolator')).toBe('Terminator');
  });

  it('suggests a parameter list as PostgREST does', () => {
    const lists = new FuzzySet(['(account_id, transaction_id)']);
    expect(lists.getOne('(transaction_id)')).toBe('(account_id, transaction_id)');
    expect(new FuzzySet(['(a, b)']).getOne('(x)')).toBeUndefined();
  });
});
